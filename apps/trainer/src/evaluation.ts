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
  /** GA's masked vs dense head time (`det eval --time-head`). */
  headTiming?: HeadTiming;
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

/** GA Table 5's head time: the dense head's inference on the masked and on the dense path. */
export interface HeadTiming {
  /** `cpu`: the process's CPU time (one wasm thread); `wall`: the wall clock (more threads). */
  clock: 'cpu' | 'wall';
  /** Timed batches (the first batch warms both paths up and is not timed) and their images. */
  batches: number;
  images: number;
  /** Median milliseconds per image with only the kept locations evaluated (`sparseInference: 'always'`). */
  maskedMs: number;
  /** The same with every location evaluated and the εL mask applied after (`'never'`). */
  denseMs: number;
}

type TimedHead = (features: readonly tf.Tensor4D[], shapes: [number, number][]) => void;

/**
 * The dense head's whole inference (towers, anchor function, candidates, NMS) on features it
 * does not compute: the RPN of a two-stage detector, the head of a single-stage one.
 */
function headInference(detector: Detector): TimedHead | undefined {
  if (detector instanceof TwoStageDetector) {
    if (!detector.denseHead) return undefined;
    return (features, shapes) => {
      detector.proposals.infer(features, shapes, undefined);
    };
  }
  if (!(detector instanceof SingleStageDetector)) return undefined;
  const { head, output } = detector;
  return (features, shapes) => {
    const outputs = tf.tidy(
      () => head.infer(features) as unknown as tf.TensorContainer,
    ) as unknown as ReturnType<typeof head.infer>;
    try {
      if (output.mode === 'detections') head.predict(outputs, shapes, output.test);
      else head.proposals(outputs, shapes, output.test);
    } finally {
      tf.dispose(outputs as unknown as tf.TensorContainer);
    }
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * Times two builds of one model's dense head (same weights: GA's masked and dense inference
 * paths) on the backbone features of the first `batches + 1` batches of a split, computed once
 * per batch by `masked`'s backbone. The paths alternate A B, B A, … so a slow stretch of a
 * shared machine falls on both; medians of milliseconds per image. `undefined` for a detector
 * without a dense head or a split without images.
 */
export async function timeHeadPaths(
  masked: Detector,
  dense: Detector,
  split: Pick<LoadedSplit, 'dataset'>,
  options: { batches: number; clock: HeadTiming['clock'] },
): Promise<HeadTiming | undefined> {
  const runMasked = headInference(masked);
  const runDense = headInference(dense);
  const composed = masked as SingleStageDetector | TwoStageDetector;
  if (!runMasked || !runDense) return undefined;
  const elapsed = (run: () => void): number => {
    if (options.clock === 'wall') {
      const start = performance.now();
      run();
      return performance.now() - start;
    }
    const start = process.cpuUsage();
    run();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
  const maskedMs: number[] = [];
  const denseMs: number[] = [];
  let images = 0;
  let index = 0;
  for await (const batch of evaluationLoader(split.dataset).batches()) {
    if (index > options.batches) {
      disposeBatch(batch);
      break;
    }
    try {
      const features = tf.tidy(() => composed.backbone.apply(batch.images, { training: false }));
      try {
        const shapes = batch.metas.map((meta) => [meta.height, meta.width] as [number, number]);
        const order = index % 2 === 0 ? ['masked', 'dense'] : ['dense', 'masked'];
        for (const path of order) {
          const ms = elapsed(() => (path === 'masked' ? runMasked : runDense)(features, shapes));
          if (index === 0) continue;
          (path === 'masked' ? maskedMs : denseMs).push(ms / shapes.length);
        }
        if (index > 0) images += shapes.length;
      } finally {
        tf.dispose(features);
      }
    } finally {
      disposeBatch(batch);
      index += 1;
    }
  }
  if (images === 0) return undefined;
  return {
    clock: options.clock,
    batches: maskedMs.length,
    images,
    maskedMs: median(maskedMs),
    denseMs: median(denseMs),
  };
}
