import {
  type AnchorSpec,
  type GreedySearchResult,
  greedyAnchorSearch,
  presetAnchors,
} from '@det/anchors-meta';
import type { DetectionBatch } from '@det/data/browser';
import type { Detector } from './detector';
import { evaluateCoco, predictDataset } from './evaluate';
import { metaAnchorFunctionOf } from './scheme-access';

/** Index into `evaluateCoco(...).stats`. */
const metricIndex = { AP: 0, AP50: 1, AP75: 2 } as const;

/**
 * Which data the search scores anchor sets on. MetaAnchor §4.1.2 searches "on a subset of
 * training data": `'train-subset'` (the default) says `batches` are that. `'evaluation-split'`
 * (e.g. minival) makes the reported AP of the same split optimistic — the anchors were chosen
 * on it — so it is refused unless `allowEvaluationSplit` is set, and then warned about.
 */
export type AnchorSearchData = 'train-subset' | 'evaluation-split';

export interface SearchAnchorConfigurationOptions {
  /** A detector with MetaAnchor anchor functions (see `metaAnchorFunctionOf`). */
  detector: Detector;
  /**
   * Fresh batches of the search data on every call (a loader's `() => loader.batches()`): a
   * subset of the TRAINING images, as the paper does (see `searchData`).
   */
  batches: () => AsyncIterable<DetectionBatch>;
  /** COCO ground truth of the search data. */
  groundTruthJson: unknown;
  /** What `batches` are. Default `'train-subset'` (the paper's). */
  searchData?: AnchorSearchData;
  /** Must be true for `searchData: 'evaluation-split'`; the search then warns through `warn`. */
  allowEvaluationSplit?: boolean;
  /** Where the evaluation-split warning goes. Default `console.warn`. */
  warn?: (message: string) => void;
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

/** The warning (or, without `allowEvaluationSplit`, the error) of a search on the evaluation split. */
export const evaluationSplitSearchWarning =
  "searchAnchorConfiguration: searchData is 'evaluation-split': the anchors are chosen on the data they will be evaluated on, so AP reported on this split is optimistic (MetaAnchor §4.1.2 searches on a subset of training data)";

/**
 * MetaAnchor's anchor-configuration search (§4.1.2) on a subset of training data: `greedyAnchorSearch`
 * scoring each candidate set by predicting with it as the inference anchors and running
 * COCO evaluation (@det/coco-eval). Weights never change; the detector's inference anchors
 * are restored afterwards, so apply the result with `setInferenceAnchors(result.anchors)`.
 */
export async function searchAnchorConfiguration(
  options: SearchAnchorConfigurationOptions,
): Promise<GreedySearchResult> {
  const { detector, batches, groundTruthJson, categoryIds } = options;
  const searchData = options.searchData ?? 'train-subset';
  if (searchData !== 'train-subset' && searchData !== 'evaluation-split') {
    throw new Error(
      `searchAnchorConfiguration: searchData must be 'train-subset' or 'evaluation-split', got ${JSON.stringify(searchData)}`,
    );
  }
  if (searchData === 'evaluation-split') {
    if (options.allowEvaluationSplit !== true) {
      throw new Error(
        `${evaluationSplitSearchWarning}; refused — search on a training subset, or pass allowEvaluationSplit: true`,
      );
    }
    (options.warn ?? console.warn)(`WARNING: ${evaluationSplitSearchWarning}`);
  }
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
        const results = await predictDataset(detector, batches(), { categoryIds });
        // AP of no detections is 0 (pycocotools would report -1 only without ground truth).
        if (results.length === 0) return 0;
        return Math.max(0, evaluateCoco(groundTruthJson, results).stats[index] ?? 0);
      },
    });
  } finally {
    anchorFunction.setInferenceAnchors(original);
  }
}
