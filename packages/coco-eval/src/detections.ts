import { CocoInputError, inSource } from './errors';
import type { CocoGroundTruth } from './ground-truth';
import { scanResults } from './results-scanner';
import { asRecord, fail, parseJson, requireBox, requireNumber } from './validate';

/** One detection in the COCO results format. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  /** `[x, y, width, height]`. */
  bbox: ArrayLike<number>;
  score: number;
}

/** Detections of one image as flat arrays, e.g. straight from a detector. */
export interface DetectionArrays {
  /** `[x, y, width, height]` per detection, flattened (length 4·n). */
  boxes: ArrayLike<number>;
  scores: ArrayLike<number>;
  categoryIds: ArrayLike<number>;
}

const INITIAL_CAPACITY = 1024;

/**
 * Detections stored column by column. The position in the store is pycocotools' loadRes
 * order: detection `i` gets id `i + 1`, `iscrowd` 0 and area `w * h`.
 */
export class CocoDetections {
  count = 0;
  imageId = new Float64Array(INITIAL_CAPACITY);
  categoryId = new Float64Array(INITIAL_CAPACITY);
  /** x, y, w, h per detection. */
  box = new Float64Array(INITIAL_CAPACITY * 4);
  score = new Float64Array(INITIAL_CAPACITY);
  /** `w * h`: loadRes overwrites any `area` a result carries. */
  area = new Float64Array(INITIAL_CAPACITY);

  private reserve(extra: number): void {
    const needed = this.count + extra;
    if (needed <= this.score.length) return;
    let capacity = this.score.length;
    while (capacity < needed) capacity *= 2;
    const grow = (old: Float64Array, width: number) => {
      const next = new Float64Array(capacity * width);
      next.set(old.subarray(0, this.count * width));
      return next;
    };
    this.imageId = grow(this.imageId, 1);
    this.categoryId = grow(this.categoryId, 1);
    this.box = grow(this.box, 4);
    this.score = grow(this.score, 1);
    this.area = grow(this.area, 1);
  }

  /** Append detections of one image (no image-id check; see `CocoEvaluator.process`). */
  append(imageId: number, detections: DetectionArrays | readonly CocoResult[]): void {
    if (Array.isArray(detections)) {
      const list = detections as readonly CocoResult[];
      this.reserve(list.length);
      for (const result of list) {
        this.add(imageId, result.category_id, result.bbox, 0, result.score);
      }
      return;
    }
    const arrays = detections as DetectionArrays;
    const n = arrays.scores.length;
    if (arrays.boxes.length !== 4 * n || arrays.categoryIds.length !== n) {
      throw new CocoInputError(
        `image ${imageId}: boxes must hold 4 numbers per score and categoryIds one per score ` +
          `(got ${arrays.boxes.length} box values, ${n} scores, ${arrays.categoryIds.length} category ids)`,
      );
    }
    this.reserve(n);
    for (let i = 0; i < n; i++) {
      this.add(
        imageId,
        arrays.categoryIds[i] as number,
        arrays.boxes,
        4 * i,
        arrays.scores[i] as number,
      );
    }
  }

  /** Append one detection whose box is `box[offset .. offset + 3]`. */
  add(
    imageId: number,
    categoryId: number,
    box: ArrayLike<number>,
    offset: number,
    score: number,
  ): void {
    this.reserve(1);
    const i = this.count;
    const w = box[offset + 2] as number;
    const h = box[offset + 3] as number;
    this.imageId[i] = imageId;
    this.categoryId[i] = categoryId;
    this.box[4 * i] = box[offset] as number;
    this.box[4 * i + 1] = box[offset + 1] as number;
    this.box[4 * i + 2] = w;
    this.box[4 * i + 3] = h;
    this.score[i] = score;
    this.area[i] = w * h;
    this.count = i + 1;
  }
}

/** Raise pycocotools' loadRes assertion, but naming the offending image ids. */
export function checkImageIds(
  groundTruth: CocoGroundTruth,
  imageIds: Iterable<number>,
  source?: string,
): void {
  const unknown = new Set<number>();
  for (const id of imageIds) if (!groundTruth.hasImage(id)) unknown.add(id);
  if (unknown.size === 0) return;
  const list = [...unknown].sort((a, b) => a - b);
  const shown =
    list.slice(0, 20).join(', ') + (list.length > 20 ? `, ... (${list.length} in all)` : '');
  throw new CocoInputError(
    inSource(
      source,
      `detections refer to image ids that are not in the ground truth images: ${shown}`,
    ),
  );
}

export interface LoadResultsOptions {
  /** File name used in error messages. */
  source?: string;
}

/**
 * pycocotools' `COCO.loadRes` for bbox results: a list of `{image_id, category_id,
 * bbox, score}`. Ids become 1-based positions, area becomes `w * h`, iscrowd 0. Unlike
 * pycocotools, an empty list is accepted (it raises IndexError).
 */
export function loadResults(
  groundTruth: CocoGroundTruth,
  results: unknown,
  options: LoadResultsOptions = {},
): CocoDetections {
  const source = options.source;
  if (!Array.isArray(results)) {
    throw new CocoInputError(inSource(source, 'results must be a JSON array of detections'));
  }
  const detections = new CocoDetections();
  const seenImages = new Set<number>();
  results.forEach((value, index) => {
    const where = { source, label: `detection id ${index + 1} (results[${index}])` };
    const record = asRecord(value, where);
    const imageId = requireNumber(record, 'image_id', where);
    const categoryId = requireNumber(record, 'category_id', where);
    if (record.bbox === undefined && index === 0) {
      fail(
        where,
        'missing field "bbox" (only bbox results are supported; pycocotools decides the type by results[0])',
      );
    }
    const bbox = requireBox(record, where);
    const score = requireNumber(record, 'score', where);
    detections.add(imageId, categoryId, bbox, 0, score);
    seenImages.add(imageId);
  });
  checkImageIds(groundTruth, seenImages, source);
  return detections;
}

/**
 * Load a results JSON text (see `loadResults`). The common flat layout is scanned
 * straight into columns; anything else goes through JSON.parse and full validation.
 */
export function loadResultsJson(
  groundTruth: CocoGroundTruth,
  text: string,
  source?: string,
): CocoDetections {
  const scanned = scanResults(text);
  if (scanned) {
    checkImageIds(groundTruth, scanned.imageId.subarray(0, scanned.count), source);
    return scanned;
  }
  return loadResults(groundTruth, parseJson(text, source), { source });
}
