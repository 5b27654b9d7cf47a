import {
  type AnchorSpec,
  type GreedySearchResult,
  greedyAnchorSearch,
  presetAnchors,
} from '@det/anchors-meta';
import type { DetectionBatch } from '@det/data';
import type { Detector } from './detector';
import { evaluateCoco, predictDataset } from './evaluate';
import { metaAnchorFunctionOf } from './scheme-access';

/** Index into `evaluateCoco(...).stats`. */
const metricIndex = { AP: 0, AP50: 1, AP75: 2 } as const;

export interface SearchAnchorConfigurationOptions {
  /** A detector with MetaAnchor anchor functions (see `metaAnchorFunctionOf`). */
  detector: Detector;
  /** Fresh batches of the held-out subset on every call (a loader's `() => loader.batches()`). */
  heldOut: () => AsyncIterable<DetectionBatch>;
  /** COCO ground truth of the held-out subset. */
  groundTruthJson: unknown;
  /** COCO category id of each contiguous label. */
  categoryIds: readonly number[];
  /** Candidate pool or a seeded drawing function. Default Table 1's 9×9 anchors (81). */
  candidates?: readonly AnchorSpec[] | ((random: () => number) => AnchorSpec);
  /** Candidates tried (the fixed step budget). */
  steps: number;
  seed?: number;
  /** Starting set. Default empty (§4.1.2). */
  initial?: readonly AnchorSpec[];
  /** What the search maximises. Default `AP` (COCO AP@[.5:.95]). */
  metric?: keyof typeof metricIndex;
  minImprovement?: number;
}

/**
 * MetaAnchor's anchor-configuration search on held-out data (§4.1.2): `greedyAnchorSearch`
 * scoring each candidate set by predicting with it as the inference anchors and running
 * COCO evaluation (@det/coco-eval). Weights never change; the detector's inference anchors
 * are restored afterwards, so apply the result with `setInferenceAnchors(result.anchors)`.
 */
export async function searchAnchorConfiguration(
  options: SearchAnchorConfigurationOptions,
): Promise<GreedySearchResult> {
  const { detector, heldOut, groundTruthJson, categoryIds } = options;
  const anchorFunction = metaAnchorFunctionOf(detector);
  if (!anchorFunction) {
    throw new Error(
      `searchAnchorConfiguration: the detector (${detector.config.kind}) has no MetaAnchor anchor functions; build its dense head with anchorScheme: { type: 'meta' }`,
    );
  }
  const metric = options.metric ?? 'AP';
  const index = metricIndex[metric];
  if (index === undefined) {
    throw new Error(
      `searchAnchorConfiguration: metric must be one of ${Object.keys(metricIndex).join(', ')}, got ${JSON.stringify(metric)}`,
    );
  }
  const original = anchorFunction.inferenceAnchorCodes.map((code) => ({ code }));
  try {
    return await greedyAnchorSearch({
      candidates: options.candidates ?? presetAnchors('9x9'),
      steps: options.steps,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.initial ? { initial: options.initial } : {}),
      ...(options.minImprovement !== undefined ? { minImprovement: options.minImprovement } : {}),
      score: async (anchors) => {
        anchorFunction.setInferenceAnchors(anchors);
        const results = await predictDataset(detector, heldOut(), { categoryIds });
        // AP of no detections is 0 (pycocotools would report -1 only without ground truth).
        if (results.length === 0) return 0;
        return Math.max(0, evaluateCoco(groundTruthJson, results).stats[index] ?? 0);
      },
    });
  } finally {
    anchorFunction.setInferenceAnchors(original);
  }
}
