import type { DetectionBatch } from '@det/data/browser';
import type { DetectorBatch } from './detector';

/** A `@det/data` loader batch as detector input (valid image sizes from the metas). */
export function toDetectorBatch(
  batch: DetectionBatch,
  proposals?: readonly Float32Array[],
): DetectorBatch {
  return {
    images: batch.images,
    gtBoxes: batch.gtBoxes,
    gtLabels: batch.gtLabels,
    gtIgnoreBoxes: batch.gtIgnoreBoxes,
    imageShapes: batch.metas.map((meta) => [meta.height, meta.width] as const),
    ...(proposals ? { proposals } : {}),
  };
}
