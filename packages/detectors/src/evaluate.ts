import { CocoEvaluator, CocoGroundTruth, type CocoResult, type CocoSummary } from '@det/coco-eval';
import { hasSyncReadback } from '@det/core';
import {
  boxesToInput,
  boxesToOriginal,
  type DetectionBatch,
  type ImageMeta,
} from '@det/data/browser';
import type { Detections } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { Detector } from './detector';

/**
 * Detections of one image in COCO results style (`bbox` `[x, y, w, h]` in ORIGINAL image
 * pixels, `category_id` from `categoryIds[label]`).
 */
export function toCocoResults(
  detections: Detections,
  meta: ImageMeta,
  categoryIds: readonly number[],
): CocoResult[] {
  const boxes = boxesToOriginal(detections.boxes, meta);
  const results: CocoResult[] = [];
  for (let i = 0; i < detections.scores.length; i++) {
    const label = detections.labels[i]!;
    const categoryId = categoryIds[label];
    if (categoryId === undefined)
      throw new Error(`toCocoResults: label ${label} has no category id`);
    const [x1, y1, x2, y2] = [
      boxes[i * 4]!,
      boxes[i * 4 + 1]!,
      boxes[i * 4 + 2]!,
      boxes[i * 4 + 3]!,
    ];
    results.push({
      image_id: meta.imageId,
      category_id: categoryId,
      bbox: [x1, y1, x2 - x1, y2 - y1],
      score: detections.scores[i]!,
    });
  }
  return results;
}

/**
 * Runs a detector over loader batches and returns COCO results in original image
 * coordinates. `proposalsOf` supplies Fast R-CNN's precomputed proposals (original pixels)
 * per image id.
 */
export async function predictDataset(
  detector: Detector,
  batches: AsyncIterable<DetectionBatch>,
  options: { categoryIds: readonly number[]; proposalsOf?: (imageId: number) => Float32Array },
): Promise<CocoResult[]> {
  const results: CocoResult[] = [];
  for await (const batch of batches) {
    try {
      const proposals = options.proposalsOf
        ? batch.metas.map((meta) => boxesToInput(options.proposalsOf!(meta.imageId), meta))
        : undefined;
      const shapes = batch.metas.map((meta) => [meta.height, meta.width] as const);
      // Without synchronous readback (webgpu) only the awaited predict can run.
      const detections =
        detector.predictAsync && !hasSyncReadback(tf.getBackend())
          ? await detector.predictAsync(batch.images, shapes, proposals ? { proposals } : {})
          : detector.predict(batch.images, shapes, proposals ? { proposals } : {});
      detections.forEach((d, i) => {
        results.push(...toCocoResults(d, batch.metas[i]!, options.categoryIds));
      });
    } finally {
      tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
    }
  }
  return results;
}

export interface EvaluationResult {
  summary: CocoSummary;
  /** The 12 COCO numbers: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl. */
  stats: number[];
}

/**
 * COCO bbox evaluation with @det/coco-eval (pycocotools' numbers and wording). `proposals`
 * evaluates class-agnostic recall at `maxDets` (default 100, 300, 1000), as mmdetection's
 * `proposal_fast`-free path: pycocotools with `useCats = 0`.
 */
export function evaluateCoco(
  groundTruthJson: unknown,
  results: readonly CocoResult[],
  options: { proposals?: boolean; maxDets?: number[] } = {},
): EvaluationResult {
  const groundTruth = new CocoGroundTruth({ dataset: groundTruthJson });
  const params = options.proposals
    ? { useCats: false, maxDets: options.maxDets ?? [100, 300, 1000] }
    : {};
  const evaluator = new CocoEvaluator({ groundTruth, params });
  const byImage = new Map<number, CocoResult[]>();
  for (const result of results) {
    let list = byImage.get(result.image_id);
    if (!list) {
      list = [];
      byImage.set(result.image_id, list);
    }
    list.push(result);
  }
  for (const [imageId, list] of byImage) evaluator.process(imageId, list);
  evaluator.evaluate();
  evaluator.accumulate();
  const summary = evaluator.summarize();
  return { summary, stats: summary.stats };
}
