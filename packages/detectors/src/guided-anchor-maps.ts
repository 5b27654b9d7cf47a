import { disposeLevelOutputs } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { Detector } from './detector';
import { guidedAnchorFunctionOf } from './scheme-access';
import { SingleStageDetector } from './single-stage-detector';
import { TwoStageDetector } from './two-stage-detector';

/** One pyramid level of a Guided Anchoring head's inference pass, on the host. */
export interface GuidedAnchorLevel {
  stride: number;
  /** Feature-map size. */
  height: number;
  width: number;
  /** p = sigmoid(location logit), [B, H, W] row-major. */
  probabilities: Float32Array;
  /** The predicted anchor of every location, [B·H·W, 4] xyxy in input pixels. */
  anchors: Float32Array;
}

/**
 * The per-level location probability maps and predicted anchor shapes of a Guided Anchoring
 * (`guided` / `meta-guided`) detector on a batch: GA Fig. 3 / 4 as numbers, for diagnostics
 * and apps/playground (the count of kept anchors at any εL is the count of p ≥ εL).
 */
export async function guidedAnchorMaps(
  detector: Detector,
  images: tf.Tensor4D,
): Promise<GuidedAnchorLevel[]> {
  const composed =
    detector instanceof SingleStageDetector || detector instanceof TwoStageDetector
      ? detector
      : undefined;
  const anchorFunction = guidedAnchorFunctionOf(detector);
  const head = composed?.denseHead;
  if (!composed || !head || !anchorFunction) {
    throw new Error(
      `guidedAnchorMaps: the ${detector.config.kind} detector has no Guided Anchoring head (use anchorScheme 'guided' or 'meta-guided')`,
    );
  }
  const outputs = tf.tidy(
    () =>
      head.forward(
        composed.backbone.apply(images, { training: false }),
      ) as unknown as tf.TensorContainer,
  ) as unknown as ReturnType<typeof head.forward>;
  try {
    return await Promise.all(
      outputs.map(async (output, level) => {
        const logits = output.extras?.locLogits as tf.Tensor4D | undefined;
        if (!logits) throw new Error(`guidedAnchorMaps: level ${level} has no locLogits`);
        const probabilities = tf.tidy(() => tf.sigmoid(logits));
        try {
          return {
            stride: anchorFunction.strides[level] as number,
            height: logits.shape[1],
            width: logits.shape[2],
            probabilities: (await probabilities.data()) as Float32Array,
            anchors: (await output.priors.data()) as Float32Array,
          };
        } finally {
          probabilities.dispose();
        }
      }),
    );
  } finally {
    disposeLevelOutputs(outputs);
  }
}

/** Locations with p ≥ εL over every level (GA's kept anchors at inference). */
export function countKeptAnchors(levels: readonly GuidedAnchorLevel[], threshold: number): number {
  let kept = 0;
  for (const level of levels) {
    // εL = 0 keeps every location, as the masked inference does.
    if (threshold <= 0) {
      kept += level.probabilities.length;
      continue;
    }
    for (const p of level.probabilities) if (p >= threshold) kept += 1;
  }
  return kept;
}
