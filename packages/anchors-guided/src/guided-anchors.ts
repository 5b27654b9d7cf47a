import { AnchorGenerator, type Reads, readAsync, readSync, type Size2D } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { detach } from './detach';
import { decodeShape, type ShapeDecodeOptions } from './shape-loss';

/**
 * The square anchors `[H·W, 4]` of one level whose centres the guided anchors keep; location
 * (i, j) is centred at ((j + centerOffset)·s, (i + centerOffset)·s) (see
 * `GuidedAnchorOptions.centerOffset`).
 */
export function levelSquares(
  featmapSize: Size2D,
  stride: number,
  squareScale = 8,
  centerOffset = 0,
): tf.Tensor2D {
  const generator = new AnchorGenerator({
    strides: [stride],
    ratios: [1],
    scales: [squareScale],
    centerOffset,
  });
  const [squares] = generator.gridPriors([featmapSize]);
  return squares as tf.Tensor2D;
}

export interface GuidedAnchorOptions extends ShapeDecodeOptions {
  /**
   * Anchor-centre convention: location i of a level with stride s is centred at
   * (i + centerOffset)·s. 0 is mmdetection v2's `center_offset=0` (i·s, the GA configs); 0.5 is
   * the cell's middle, (i + ½)·s. Default 0.
   */
  centerOffset?: number;
}

/** Square centres `[H·W·4]` as (cx, cy, cx, cy), per level geometry; see `squareCentres`. */
const centreCache = new Map<string, Float32Array>();

/**
 * The centres of a level's squares, `(x1 + x2) / 2` and `(y1 + y2) / 2` in float32 exactly as
 * the squares give them, repeated as (cx, cy, cx, cy) per location. Host arrays cached per
 * geometry: the squares never change for a given feature-map size.
 */
function squareCentres(
  featmapSize: Size2D,
  stride: number,
  squareScale: number,
  centerOffset: number,
): Float32Array {
  return readSync(squareCentreSteps(featmapSize, stride, squareScale, centerOffset));
}

/**
 * Fills the square-centre cache of these levels with awaited reads, so a forward (whose first
 * use of a size reads the squares back) needs no synchronous readback: webgpu's prepare phase.
 */
export async function prepareSquareCentres(
  featmapSizes: readonly Size2D[],
  strides: readonly number[],
  squareScale: number,
  centerOffset: number,
): Promise<void> {
  for (const [level, size] of featmapSizes.entries()) {
    await readAsync(squareCentreSteps(size, strides[level] as number, squareScale, centerOffset));
  }
}

function* squareCentreSteps(
  featmapSize: Size2D,
  stride: number,
  squareScale: number,
  centerOffset: number,
): Reads<Float32Array> {
  const key = `${featmapSize[0]}x${featmapSize[1]}/${stride}/${squareScale}/${centerOffset}`;
  let centres = centreCache.get(key);
  if (!centres) {
    const squares = levelSquares(featmapSize, stride, squareScale, centerOffset);
    let values: tf.TypedArray;
    try {
      values = yield squares;
    } finally {
      squares.dispose();
    }
    centres = new Float32Array(values.length);
    const f32 = Math.fround;
    for (let i = 0; i < values.length; i += 4) {
      const cx = f32(f32((values[i] as number) + (values[i + 2] as number)) / 2);
      const cy = f32(f32((values[i + 1] as number) + (values[i + 3] as number)) / 2);
      centres.set([cx, cy, cx, cy], i);
    }
    if (centreCache.size > 64) centreCache.clear();
    centreCache.set(key, centres);
  }
  return centres;
}

/** (w, h) → (−w/2, −h/2, w/2, h/2): a [2, 4] matMul instead of split / concat on the last axis. */
const halfExtents = [-0.5, 0, 0.5, 0, 0, -0.5, 0, 0.5];

/**
 * One anchor per location (GA §3, "guided anchors"): centred on the level's square anchors,
 * with the predicted `w = σ·s·e^dw`, `h = σ·s·e^dh`. `shapePred` `[B, H, W, 2]` is detached:
 * the classification / regression losses must not train the shape branch through the anchors.
 * Returns `[B, H·W, 4]` xyxy.
 */
export function guidedAnchors(
  shapePred: tf.Tensor4D,
  stride: number,
  options: GuidedAnchorOptions = {},
): tf.Tensor3D {
  const [batch, height, width] = shapePred.shape;
  const locations = height * width;
  const centres = squareCentres(
    [height, width],
    stride,
    options.squareScale ?? 8,
    options.centerOffset ?? 0,
  );
  return tf.tidy(() => {
    const size = tf.reshape(decodeShape(detach(shapePred), stride, options), [
      batch * locations,
      2,
    ]);
    return tf.add(
      tf.reshape(cornerOffsets(size), [batch, locations, 4]),
      tf.tensor3d(centres, [1, locations, 4]),
    ) as tf.Tensor3D;
  });
}

/** (w, h) rows `[N, 2]` → (−w/2, −h/2, w/2, h/2) `[N, 4]`. */
function cornerOffsets(size: tf.Tensor): tf.Tensor2D {
  // Products with ±0.5 and sums with 0 are exact: the same float32 corners as c ∓ wh/2.
  return tf.matMul(size as tf.Tensor2D, tf.tensor2d(halfExtents, [2, 4]));
}

/**
 * `guidedAnchors` at some locations only (sparse inference): `shapeRows` `[N, 2]` (dw, dh) of
 * the locations whose flat cells (y·W + x on the `featmapSize` grid) are `cells`. Returns
 * `[N, 4]` xyxy, the rows `guidedAnchors` gives at those locations.
 */
export function guidedAnchorsAt(
  shapeRows: tf.Tensor2D,
  cells: Int32Array,
  featmapSize: Size2D,
  stride: number,
  options: GuidedAnchorOptions = {},
): tf.Tensor2D {
  const count = cells.length;
  if (shapeRows.shape.join() !== [count, 2].join()) {
    throw new Error(
      `guidedAnchorsAt: shapeRows must be [${count}, 2] (one row per cell), got [${shapeRows.shape.join(', ')}]`,
    );
  }
  const centres = squareCentres(
    featmapSize,
    stride,
    options.squareScale ?? 8,
    options.centerOffset ?? 0,
  );
  const rows = new Float32Array(count * 4);
  for (let n = 0; n < count; n++) {
    const cell = cells[n]!;
    rows.set(centres.subarray(cell * 4, cell * 4 + 4), n * 4);
  }
  return tf.tidy(() =>
    tf.add(cornerOffsets(decodeShape(shapeRows, stride, options)), tf.tensor2d(rows, [count, 4])),
  ) as tf.Tensor2D;
}

/**
 * `[B, H, W]` bool: the locations inference evaluates, p = σ(logit) ≥ εL (GA §3.4, mmdetection
 * `loc_filter_thr`, 0.01). Compared in logit space, where σ is monotone.
 */
export function locationMask(locLogits: tf.Tensor4D, threshold: number): tf.Tensor3D {
  if (!(threshold >= 0 && threshold < 1)) {
    throw new Error(`locationMask: threshold must be in [0, 1), got ${threshold}`);
  }
  const [batch, height, width] = locLogits.shape;
  // εL = 0 keeps every location (the paper's Table 5 baseline row).
  if (threshold === 0) return tf.ones([batch, height, width], 'bool') as tf.Tensor3D;
  return tf.tidy(() =>
    tf.greaterEqual(
      tf.reshape(locLogits, [batch, height, width]),
      Math.log(threshold / (1 - threshold)),
    ),
  ) as tf.Tensor3D;
}
