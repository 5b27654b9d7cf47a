import { CocoEvaluator, CocoGroundTruth, type CocoResult } from '@det/coco-eval';
import { type Detector, type ProposalsByImage, predictDataset } from '@det/detectors';
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
