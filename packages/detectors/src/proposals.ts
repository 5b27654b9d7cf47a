import { boxesToInput, type ImageMeta } from '@det/data/browser';

/**
 * Precomputed proposals (Fast R-CNN, GA-RPN fine-tuning) in COCO results style:
 * `[{ image_id, bbox: [x, y, w, h], score, category_id? }, …]` in ORIGINAL image pixels, as
 * `det-coco-eval` and mmdetection's proposal dumps write them. Per image they are kept in
 * decreasing score order (stable), as xyxy `Float32Array`s.
 */
export type ProposalsByImage = Map<number, Float32Array>;

export interface ReadProposalsOptions {
  /** Keep at most this many proposals per image, the highest-scoring (default: all). */
  maxPerImage?: number;
}

function fail(
  file: string,
  index: number,
  field: string,
  message: string,
  imageId?: unknown,
): never {
  const image = typeof imageId === 'number' ? ` (image_id ${imageId})` : '';
  throw new Error(`${file}: proposal #${index} field '${field}' ${message}${image}`);
}

/** Parses a proposals list; every error names the file, the entry index and the field. */
export function parseProposals(
  json: unknown,
  file = '<proposals>',
  options: ReadProposalsOptions = {},
): ProposalsByImage {
  if (!Array.isArray(json)) {
    throw new Error(
      `${file}: expected a JSON array of proposals, got ${json === null ? 'null' : typeof json}`,
    );
  }
  const byImage = new Map<number, { boxes: number[]; scores: number[] }>();
  json.forEach((entry: unknown, index) => {
    if (entry === null || typeof entry !== 'object')
      fail(file, index, '(entry)', 'is not an object');
    const record = entry as Record<string, unknown>;
    const imageId = record.image_id;
    if (typeof imageId !== 'number' || !Number.isInteger(imageId)) {
      fail(file, index, 'image_id', `must be an integer, got ${JSON.stringify(imageId)}`);
    }
    const bbox = record.bbox;
    if (
      !Array.isArray(bbox) ||
      bbox.length !== 4 ||
      !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))
    ) {
      fail(
        file,
        index,
        'bbox',
        `must be 4 finite numbers [x, y, w, h], got ${JSON.stringify(bbox)}`,
        imageId,
      );
    }
    const [x, y, w, h] = bbox as [number, number, number, number];
    if (w < 0 || h < 0)
      fail(file, index, 'bbox', `has a negative size [${bbox.join(', ')}]`, imageId);
    // A missing score means "unranked" (1); a present one must be a number.
    const score = 'score' in record ? record.score : 1;
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      fail(
        file,
        index,
        'score',
        `must be a finite number, got ${JSON.stringify(record.score)}`,
        imageId,
      );
    }
    let image = byImage.get(imageId);
    if (!image) {
      image = { boxes: [], scores: [] };
      byImage.set(imageId, image);
    }
    image.boxes.push(x, y, x + w, y + h);
    image.scores.push(score);
  });
  const out: ProposalsByImage = new Map();
  for (const [imageId, { boxes, scores }] of byImage) {
    const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
    const kept = order.slice(0, options.maxPerImage ?? order.length);
    const array = new Float32Array(kept.length * 4);
    for (const [target, source] of kept.entries()) {
      array.set(boxes.slice(source * 4, source * 4 + 4), target * 4);
    }
    out.set(imageId, array);
  }
  return out;
}

/**
 * The proposals of a batch's images in INPUT pixels (after the loader's resize/flip), as
 * `DetectorBatch.proposals` wants them. An image with no entry gets no proposals.
 */
export function proposalsForBatch(
  proposals: ProposalsByImage,
  metas: readonly ImageMeta[],
): Float32Array[] {
  return metas.map((meta) => {
    const boxes = proposals.get(meta.imageId);
    return boxes ? boxesToInput(boxes, meta) : new Float32Array(0);
  });
}
