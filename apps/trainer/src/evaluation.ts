import { CocoEvaluator, CocoGroundTruth, type CocoResult } from '@det/coco-eval';
import { disposeBatch } from '@det/data';
import {
  type Detector,
  type ProposalsByImage,
  predictDataset,
  SingleStageDetector,
  TwoStageDetector,
} from '@det/detectors';
import * as tf from '@tensorflow/tfjs-core';
import { evaluationLoader, type LoadedSplit } from './datasets';

/** One evaluation, as saved in `runs/<name>/evals/*.json` and drawn in the report. */
export interface EvaluationDetails {
  iteration: number;
  /** pycocotools' summary table. */
  lines: string[];
  /** Named stats (AP, AP50, ..., or AR@100/300/1000 for proposal detectors). */
  metrics: Record<string, number>;
  /** Per class: AP, AP50, AP75 (-1 without ground truth). */
  perClass: { name: string; ap: number; ap50: number; ap75: number }[];
  /** Mean precision over classes at the 101 recall thresholds, IoU .5 and .75 (area all, last maxDets). */
  precisionRecall: { recall: number[]; iou50: number[]; iou75: number[] };
  detections: number;
  images: number;
  /** Anchors per image of the dense head (`det eval --count-anchors`). */
  anchorsPerImage?: number;
}

const detectionNames = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
];
const proposalNames = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR@100',
  'AR@300',
  'AR@1000',
  'ARs@1000',
  'ARm@1000',
  'ARl@1000',
];

/** COCO evaluation of `results` against a split (class-agnostic AR for proposals). */
export function evaluateResults(
  split: LoadedSplit,
  results: readonly CocoResult[],
  options: { proposals: boolean; iteration: number },
): EvaluationDetails {
  const groundTruth = new CocoGroundTruth({ dataset: split.groundTruthJson });
  const evaluator = new CocoEvaluator({
    groundTruth,
    params: options.proposals ? { useCats: false, maxDets: [100, 300, 1000] } : {},
  });
  const byImage = new Map<number, CocoResult[]>();
  for (const result of results) {
    const list = byImage.get(result.image_id) ?? [];
    list.push(result);
    byImage.set(result.image_id, list);
  }
  for (const record of split.dataset.records)
    evaluator.process(record.imageId, byImage.get(record.imageId) ?? []);
  evaluator.evaluate();
  const accumulation = evaluator.accumulate();
  const summary = evaluator.summarize();
  const names = options.proposals ? proposalNames : detectionNames;
  const metrics = Object.fromEntries(summary.stats.map((value, index) => [names[index]!, value]));
  const perClass = options.proposals
    ? []
    : evaluator.perCategory().map((category) => ({
        name:
          split.dataset.classNames[split.dataset.categoryIds.indexOf(category.categoryId)] ??
          String(category.categoryId),
        ap: category.ap,
        ap50: category.ap50,
        ap75: category.ap75,
      }));
  const [T, R, K, A, M] = accumulation.counts;
  const curve = (t: number): number[] =>
    Array.from({ length: R }, (_, r) => {
      let sum = 0;
      let count = 0;
      for (let k = 0; k < K; k++) {
        const value = accumulation.precision[(((t * R + r) * K + k) * A + 0) * M + (M - 1)]!;
        if (value > -1) {
          sum += value;
          count += 1;
        }
      }
      return count > 0 ? sum / count : 0;
    });
  return {
    iteration: options.iteration,
    lines: summary.lines,
    metrics,
    perClass,
    precisionRecall: {
      recall: Array.from({ length: R }, (_, r) => r / (R - 1)),
      iou50: T > 0 ? curve(0) : [],
      iou75: T > 5 ? curve(5) : [],
    },
    detections: results.length,
    images: split.dataset.records.length,
  };
}

/**
 * Predicts over a split and evaluates; returns the results too (for drawing). `precomputed`:
 * the split's proposals for a detector that takes them (Fast R-CNN).
 */
export async function evaluateDetector(
  detector: Detector,
  split: LoadedSplit,
  options: { proposals: boolean; iteration: number; precomputed?: ProposalsByImage | undefined },
): Promise<{ details: EvaluationDetails; results: CocoResult[] }> {
  const { precomputed } = options;
  const results = await predictDataset(detector, evaluationLoader(split.dataset).batches(), {
    categoryIds: split.dataset.categoryIds,
    ...(precomputed
      ? { proposalsOf: (imageId: number) => precomputed.get(imageId) ?? new Float32Array(0) }
      : {}),
  });
  return { details: evaluateResults(split, results, options), results };
}

/**
 * Anchors per image of a detector's dense head (the RPN of a two-stage one) over a split, in
 * inference mode: with Guided Anchoring the locations whose p ≥ εL (GA Table 5, the head's
 * `evaluated` mask), otherwise every prior. `undefined` for a detector without a dense head
 * (Fast R-CNN on precomputed proposals).
 */
export async function countAnchorsPerImage(
  detector: Detector,
  split: Pick<LoadedSplit, 'dataset'>,
): Promise<number | undefined> {
  const composed =
    detector instanceof SingleStageDetector || detector instanceof TwoStageDetector
      ? detector
      : undefined;
  const head = composed?.denseHead;
  if (!composed || !head) return undefined;
  let anchors = 0;
  let images = 0;
  for await (const batch of evaluationLoader(split.dataset).batches()) {
    try {
      const outputs = tf.tidy(
        () =>
          head.forward(
            composed.backbone.apply(batch.images, { training: false }),
          ) as unknown as tf.TensorContainer,
      ) as unknown as ReturnType<typeof head.forward>;
      try {
        for (const output of outputs) {
          if (output.evaluated) {
            const kept = tf.tidy(() => tf.sum(tf.cast(output.evaluated!, 'int32')));
            anchors += (await kept.data())[0]!;
            kept.dispose();
          } else anchors += output.clsScores.shape[1] * output.clsScores.shape[0];
        }
      } finally {
        tf.dispose(outputs as unknown as tf.TensorContainer);
      }
      images += batch.images.shape[0];
    } finally {
      disposeBatch(batch);
    }
  }
  return images > 0 ? anchors / images : 0;
}
