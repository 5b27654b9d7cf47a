import type * as tf from '@tensorflow/tfjs-core';

/** Boxes as a `[N, 4]` xyxy tensor or a flat `N·4` array. */
export type BoxesInput = tf.Tensor2D | Float32Array | Float64Array | readonly number[];
/** Per-box numbers as a `[N]` tensor or an array of length N. */
export type ScoresInput = tf.Tensor1D | Float32Array | Float64Array | readonly number[];

export interface NmsOptions {
  /** A box is suppressed when its IoU with a kept, higher-scoring box is strictly greater. */
  iouThreshold: number;
  /** Stop after this many boxes are kept (the first `maxOutputSize` of the full result). */
  maxOutputSize?: number;
  /** Only boxes with `score > scoreThreshold` take part (mmdetection's `score_thr`). */
  scoreThreshold?: number;
}

/** Reads boxes to host float32 (torchvision runs float32 NMS in float32). */
export function boxesToHost(boxes: BoxesInput, where: string): Float32Array {
  if (boxes instanceof Float32Array) return checkBoxLength(boxes, where);
  if (boxes instanceof Float64Array || Array.isArray(boxes)) {
    return checkBoxLength(Float32Array.from(boxes as ArrayLike<number>), where);
  }
  const tensor = boxes as tf.Tensor2D;
  if (tensor.rank !== 2 || tensor.shape[1] !== 4) {
    throw new Error(`${where}: boxes must have shape [N, 4], got [${tensor.shape.join(', ')}]`);
  }
  const data = tensor.dataSync();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}

function checkBoxLength(boxes: Float32Array, where: string): Float32Array {
  if (boxes.length % 4 !== 0) {
    throw new Error(
      `${where}: a flat boxes array must have a length divisible by 4, got ${boxes.length}`,
    );
  }
  return boxes;
}

/** Reads per-box numbers to host as float32 (scores) or as given (labels). */
export function vectorToHost(values: ScoresInput, where: string, name: string): ArrayLike<number> {
  if (values instanceof Float32Array || values instanceof Float64Array || Array.isArray(values)) {
    return values as ArrayLike<number>;
  }
  const tensor = values as tf.Tensor1D;
  if (tensor.rank !== 1) {
    throw new Error(`${where}: ${name} must have shape [N], got [${tensor.shape.join(', ')}]`);
  }
  return tensor.dataSync() as ArrayLike<number>;
}

export function checkNmsOptions(options: NmsOptions, where: string): void {
  if (typeof options?.iouThreshold !== 'number' || Number.isNaN(options.iouThreshold)) {
    throw new Error(
      `${where}: iouThreshold must be a number, got ${String(options?.iouThreshold)}`,
    );
  }
  const { maxOutputSize } = options;
  if (maxOutputSize !== undefined && !(Number.isInteger(maxOutputSize) && maxOutputSize >= 0)) {
    throw new Error(`${where}: maxOutputSize must be an integer ≥ 0, got ${maxOutputSize}`);
  }
  if (options.scoreThreshold !== undefined && Number.isNaN(options.scoreThreshold)) {
    throw new Error(`${where}: scoreThreshold must be a number, got NaN`);
  }
}

const fround = Math.fround;

/**
 * Greedy NMS on host float32 data with torchvision's exact semantics
 * (csrc/ops/cpu/nms_kernel.cpp): a stable sort by score, descending; areas
 * `(x2 − x1)·(y2 − y1)` without +1; every float32 operation of the C++ kernel emulated
 * with `Math.fround`, so IoUs equal to the threshold behave identically; `IoU >
 * iouThreshold` suppresses. Returns kept indices in decreasing score order.
 */
export function nmsHost(
  boxes: Float32Array,
  scores: ArrayLike<number>,
  options: NmsOptions,
): Int32Array {
  const n = boxes.length / 4;
  if (scores.length !== n) {
    throw new Error(`nms: boxes has ${n} boxes but scores has ${scores.length} entries`);
  }
  const { iouThreshold, scoreThreshold } = options;
  const maxOutputSize = options.maxOutputSize ?? n;
  let candidates = 0;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (scoreThreshold === undefined || scores[i]! > scoreThreshold) order[candidates++] = i;
  }
  const sorted = order.subarray(0, candidates);
  // Ties broken by index: the order of a stable descending sort.
  sorted.sort((a, b) => scores[b]! - scores[a]! || a - b);

  // Coordinates in score order, contiguous, for a cache-friendly inner loop.
  const x1 = new Float32Array(candidates);
  const y1 = new Float32Array(candidates);
  const x2 = new Float32Array(candidates);
  const y2 = new Float32Array(candidates);
  const area = new Float32Array(candidates);
  for (let r = 0; r < candidates; r++) {
    const base = sorted[r]! * 4;
    x1[r] = boxes[base]!;
    y1[r] = boxes[base + 1]!;
    x2[r] = boxes[base + 2]!;
    y2[r] = boxes[base + 3]!;
    area[r] = fround((x2[r]! - x1[r]!) * (y2[r]! - y1[r]!));
  }
  const suppressed = new Uint8Array(candidates);
  const keep = new Int32Array(Math.min(candidates, maxOutputSize));
  let kept = 0;
  // With a non-negative threshold, boxes that do not intersect never suppress each other,
  // so the inner loop may skip them before any division.
  const skipDisjoint = iouThreshold >= 0;
  for (let r = 0; r < candidates && kept < keep.length; r++) {
    if (suppressed[r]) continue;
    keep[kept++] = sorted[r]!;
    const ix1 = x1[r]!;
    const iy1 = y1[r]!;
    const ix2 = x2[r]!;
    const iy2 = y2[r]!;
    const iarea = area[r]!;
    for (let s = r + 1; s < candidates; s++) {
      if (suppressed[s]) continue;
      const w = fround(Math.min(ix2, x2[s]!) - Math.max(ix1, x1[s]!));
      const h = fround(Math.min(iy2, y2[s]!) - Math.max(iy1, y1[s]!));
      if (skipDisjoint && (w <= 0 || h <= 0)) continue;
      const inter = fround(Math.max(0, w) * Math.max(0, h));
      const overlap = fround(inter / fround(fround(iarea + area[s]!) - inter));
      if (overlap > iouThreshold) suppressed[s] = 1;
    }
  }
  return kept === keep.length ? keep : keep.slice(0, kept);
}

/**
 * Greedy non-maximum suppression, the indices `torchvision.ops.nms` returns (kept boxes in
 * decreasing score order, ties by index). Reads tensors back to host: a post-processing
 * step, not part of a differentiable graph. Inputs are not disposed.
 */
export function nms(boxes: BoxesInput, scores: ScoresInput, options: NmsOptions): Int32Array {
  checkNmsOptions(options, 'nms');
  return nmsHost(boxesToHost(boxes, 'nms'), vectorToHost(scores, 'nms', 'scores'), options);
}
