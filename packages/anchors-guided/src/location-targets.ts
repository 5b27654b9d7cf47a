import type { Size2D } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

/** Label of a location-branch cell: inside an object's centre region (CR, GA §3.4). */
export const LOCATION_POSITIVE = 1;
/** Label of a cell outside every centre and ignore region (OR). */
export const LOCATION_NEGATIVE = 0;
/** Label of a cell in an ignore region (IR) and no centre region: excluded from the loss. */
export const LOCATION_IGNORE = -1;

export interface LocationTargetOptions {
  /** Stride of each FPN level in input pixels, finest first (e.g. [4, 8, 16, 32, 64] for GA-RPN). */
  strides: readonly number[];
  /**
   * Base scale in units of the finest stride: a box of side √(wh) = octaveBaseScale·strides[0]
   * belongs to level 0 (mmdetection `octave_base_scale`, 8). Default 8.
   */
  octaveBaseScale?: number;
  /** σ1, the centre region's side as a fraction of the box (GA §3.4). Default 0.2. */
  centerRatio?: number;
  /** σ2, the ignore region's side as a fraction of the box (GA §3.4). Default 0.5. */
  ignoreRatio?: number;
  /**
   * Anchor-centre convention (as `ShapeTargetOptions.centerOffset`): cell i is centred at
   * (i + centerOffset)·s, so a point x falls on cell coordinate x/s − centerOffset. 0 is
   * mmdetection's (`calc_region` rounds x/s); 0.5 the cell's middle. Default 0.
   */
  centerOffset?: number;
}

interface ResolvedLocationOptions {
  strides: readonly number[];
  octaveBaseScale: number;
  centerRatio: number;
  ignoreRatio: number;
  centerOffset: number;
}

function resolve(options: LocationTargetOptions): ResolvedLocationOptions {
  const where = 'locationTargets';
  const strides = options?.strides;
  if (!Array.isArray(strides) || strides.length === 0 || !strides.every((s) => s > 0)) {
    throw new Error(
      `${where}: options.strides must be a non-empty list of positive numbers, got ${JSON.stringify(strides)}`,
    );
  }
  const octaveBaseScale = options.octaveBaseScale ?? 8;
  const centerRatio = options.centerRatio ?? 0.2;
  const ignoreRatio = options.ignoreRatio ?? 0.5;
  if (!(octaveBaseScale > 0)) {
    throw new Error(`${where}: options.octaveBaseScale must be > 0, got ${octaveBaseScale}`);
  }
  if (!(centerRatio > 0 && centerRatio <= ignoreRatio && ignoreRatio <= 1)) {
    throw new Error(
      `${where}: need 0 < centerRatio (${centerRatio}) ≤ ignoreRatio (${ignoreRatio}) ≤ 1`,
    );
  }
  const centerOffset = options.centerOffset ?? 0;
  if (!(centerOffset >= 0 && centerOffset <= 1)) {
    throw new Error(`${where}: options.centerOffset must be in [0, 1], got ${centerOffset}`);
  }
  return { strides, octaveBaseScale, centerRatio, ignoreRatio, centerOffset };
}

/**
 * The FPN level each box is assigned to (GA §3.4, mmdetection `ga_loc_target`):
 * `floor(log2(√(wh) / (octaveBaseScale·strides[0])) + 0.5)`, clamped to the levels.
 * `gtBoxes` `[G, 4]` xyxy; returns `[G]` int32.
 */
export function gtLevels(gtBoxes: tf.Tensor2D, options: LocationTargetOptions): tf.Tensor1D {
  const { strides, octaveBaseScale } = resolve(options);
  const baseScale = octaveBaseScale * (strides[0] as number);
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = tf.split(gtBoxes, 4, 1) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const side = tf.sqrt(tf.mul(tf.sub(x2, x1), tf.sub(y2, y1)));
    const level = tf.floor(tf.add(tf.div(tf.log(tf.div(side, baseScale)), Math.LN2), 0.5));
    return tf.cast(
      tf.clipByValue(tf.reshape(level, [-1]), 0, strides.length - 1),
      'int32',
    ) as tf.Tensor1D;
  });
}

const f32 = Math.fround;

/** `gtLevels` on the host, in float32 steps like the tensor version (same ties). */
function boxLevel(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  baseScale: number,
  numLevels: number,
): number {
  const side = f32(Math.sqrt(f32(f32(x2 - x1) * f32(y2 - y1))));
  const octaves = f32(f32(Math.log(f32(side / f32(baseScale)))) / f32(Math.LN2));
  const level = Math.floor(f32(octaves + 0.5));
  // NaN (a degenerate box) clamps to level 0, as clipByValue does.
  return Number.isNaN(level) ? 0 : Math.min(Math.max(level, 0), numLevels - 1);
}

/**
 * The inclusive cell range `[start, end]` of R(box, σ) along one axis of a map with stride
 * `stride`: the ends are the interpolations at r = (1 − σ)/2 of the box edges mapped to the
 * map (x / stride), rounded half up (mmdetection's `calc_region`), in float32 steps.
 */
function regionRange(
  low: number,
  high: number,
  stride: number,
  ratio: number,
  centerOffset: number,
): [number, number] {
  const r = (1 - ratio) / 2;
  const scaledLow = f32(low / stride);
  const scaledHigh = f32(high / stride);
  const lerp = (t: number) =>
    Math.floor(
      f32(f32(f32(f32(scaledLow * f32(1 - t)) + f32(scaledHigh * f32(t))) - centerOffset) + 0.5),
    );
  return [lerp(r), lerp(1 - r)];
}

/** Writes `value` into the cells of `labels` (one `height × width` map at `offset`) in R. */
function fillRegion(
  labels: Int32Array,
  offset: number,
  height: number,
  width: number,
  rows: [number, number],
  cols: [number, number],
  value: number,
): void {
  const rowEnd = Math.min(rows[1], height - 1);
  const colEnd = Math.min(cols[1], width - 1);
  for (let row = Math.max(rows[0], 0); row <= rowEnd; row++) {
    const line = offset + row * width;
    for (let col = Math.max(cols[0], 0); col <= colEnd; col++) labels[line + col] = value;
  }
}

/**
 * Location-branch targets (GA §3.4) of one batch, per level `[B, H, W]` int32 with
 * `LOCATION_POSITIVE` (1), `LOCATION_NEGATIVE` (0) or `LOCATION_IGNORE` (−1):
 * each box is assigned to one level by its scale (`gtLevels`); there its centre region CR
 * (σ1) is positive and its ignore region IR (σ2, minus CR) ignored; the same IR on the two
 * adjacent levels is ignored; the rest is negative. Where objects overlap, CR beats IR beats
 * OR, whichever box they come from. Images without boxes get all-negative maps.
 * Computed without gradient; `gtBoxes` one `[G, 4]` xyxy tensor per image.
 */
export function locationTargets(
  gtBoxes: readonly tf.Tensor2D[],
  featmapSizes: readonly Size2D[],
  options: LocationTargetOptions,
): tf.Tensor3D[] {
  const resolved = resolve(options);
  const { strides, centerRatio, ignoreRatio } = resolved;
  if (featmapSizes.length !== strides.length) {
    throw new Error(
      `locationTargets: ${featmapSizes.length} featmapSizes for ${strides.length} strides`,
    );
  }
  gtBoxes.forEach((boxes, image) => {
    if (boxes.rank !== 2 || boxes.shape[1] !== 4) {
      throw new Error(
        `locationTargets: gtBoxes[${image}] must be [G, 4] xyxy, got [${boxes.shape.join(', ')}]`,
      );
    }
  });
  // A handful of boxes against a few thousand cells: plain loops over each box's region beat
  // the [G, H, W] mask tensors (≈1,100 kernel launches per batch) by two orders of magnitude.
  const boxes = gtBoxes.map((b) => b.dataSync());
  const baseScale = resolved.octaveBaseScale * (strides[0] as number);
  const levels = boxes.map((values) =>
    Array.from({ length: values.length / 4 }, (_, g) =>
      boxLevel(
        values[4 * g] as number,
        values[4 * g + 1] as number,
        values[4 * g + 2] as number,
        values[4 * g + 3] as number,
        baseScale,
        strides.length,
      ),
    ),
  );
  return featmapSizes.map(([height, width], level) => {
    const stride = strides[level] as number;
    const labels = new Int32Array(gtBoxes.length * height * width);
    // Ignore regions first, centre regions over them: CR beats IR beats OR.
    for (const [ratio, value, near] of [
      [ignoreRatio, LOCATION_IGNORE, 1],
      [centerRatio, LOCATION_POSITIVE, 0],
    ] as const) {
      boxes.forEach((values, image) => {
        (levels[image] as number[]).forEach((boxLevelOf, g) => {
          if (Math.abs(boxLevelOf - level) > near) return;
          const [x1, y1, x2, y2] = [0, 1, 2, 3].map((k) => values[4 * g + k] as number) as [
            number,
            number,
            number,
            number,
          ];
          fillRegion(
            labels,
            image * height * width,
            height,
            width,
            regionRange(y1, y2, stride, ratio, resolved.centerOffset),
            regionRange(x1, x2, stride, ratio, resolved.centerOffset),
            value,
          );
        });
      });
    }
    return tf.tensor3d(labels, [gtBoxes.length, height, width], 'int32');
  });
}
