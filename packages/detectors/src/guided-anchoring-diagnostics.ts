import { writeLocationHeatmaps, writeShapeHistograms } from '@det/anchors-guided/diagnostics';
import { disposeLevelOutputs } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { Detector, DetectorBatch } from './detector';
import { guidedAnchorFunctionOf } from './scheme-access';
import { SingleStageDetector } from './single-stage-detector';
import { TwoStageDetector } from './two-stage-detector';

export interface GuidedAnchoringDiagnosticsOptions {
  /** The source image of each batch image (path or encoded bytes), drawn under the heat maps. */
  images?: readonly (string | Uint8Array)[];
  /** Histogram bins. Default 24. */
  bins?: number;
}

export interface GuidedAnchoringDiagnostics {
  /**
   * Per image, one `image<i>-location-p<level>.png` per level (GA Fig. 3); none without a
   * location branch (`anchorScheme.components.location: false`).
   */
  heatmaps: string[][];
  /** `shape-histograms.svg` / `.txt`: predicted anchors at evaluated locations vs GT (GA Fig. 4). */
  histograms: string[];
  /** Anchors the histograms count (locations with p ≥ εL over the batch). */
  anchorCount: number;
}

/**
 * Runs a trained GA detector (GA-RPN, GA-RetinaNet, GA-Faster R-CNN) in inference mode on a
 * batch and writes `@det/anchors-guided`'s diagnostics into `outDir`: the location
 * probability maps of every image and the scale / aspect-ratio histograms of the guided
 * anchors kept by εL against the batch's ground truth.
 */
export async function writeGuidedAnchoringDiagnostics(
  detector: Detector,
  batch: Pick<DetectorBatch, 'images' | 'gtBoxes'>,
  outDir: string,
  options: GuidedAnchoringDiagnosticsOptions = {},
): Promise<GuidedAnchoringDiagnostics> {
  const composed =
    detector instanceof SingleStageDetector || detector instanceof TwoStageDetector
      ? detector
      : undefined;
  const head = composed?.denseHead;
  if (!composed || !head || !guidedAnchorFunctionOf(detector)) {
    throw new Error(
      `writeGuidedAnchoringDiagnostics: the ${detector.config.kind} detector has no Guided Anchoring head (use anchorScheme 'guided' or 'meta-guided')`,
    );
  }
  const [batchSize, height, width] = batch.images.shape;
  if (options.images && options.images.length !== batchSize) {
    throw new Error(
      `writeGuidedAnchoringDiagnostics: options.images has ${options.images.length} entries for a batch of ${batchSize}`,
    );
  }
  const outputs = tf.tidy(
    () =>
      head.forward(
        composed.backbone.apply(batch.images, { training: false }),
      ) as unknown as tf.TensorContainer,
  ) as unknown as ReturnType<typeof head.forward>;
  try {
    const locationBranch = guidedAnchorFunctionOf(detector)!.location !== null;
    const locationMaps = outputs.map((output, level) => {
      const map = output.extras?.locLogits;
      if (locationBranch && !map)
        throw new Error(`writeGuidedAnchoringDiagnostics: level ${level} has no locLogits`);
      return map!;
    });
    const heatmaps: string[][] = [];
    for (let image = 0; image < batchSize && locationBranch; image++) {
      const source = options.images?.[image];
      heatmaps.push(
        await writeLocationHeatmaps({
          locationMaps,
          imageIndex: image,
          imageSize: [height, width],
          outDir,
          prefix: `image${image}-`,
          ...(source !== undefined ? { image: source } : {}),
        }),
      );
    }
    // Host-side gathering is fine here: diagnostics, not a training path.
    const anchors: number[] = [];
    for (const output of outputs) {
      const priors = await output.priors.data();
      const kept = output.evaluated ? await output.evaluated.data() : null;
      const rows = priors.length / 4;
      for (let row = 0; row < rows; row++) {
        if (kept && !kept[row]) continue;
        anchors.push(
          priors[row * 4]!,
          priors[row * 4 + 1]!,
          priors[row * 4 + 2]!,
          priors[row * 4 + 3]!,
        );
      }
    }
    const gt: number[] = [];
    for (const boxes of batch.gtBoxes) gt.push(...(await boxes.data()));
    const histograms = await writeShapeHistograms(outDir, {
      anchors,
      gtBoxes: gt,
      ...(options.bins !== undefined ? { bins: options.bins } : {}),
    });
    return { heatmaps, histograms, anchorCount: anchors.length / 4 };
  } finally {
    disposeLevelOutputs(outputs);
  }
}
