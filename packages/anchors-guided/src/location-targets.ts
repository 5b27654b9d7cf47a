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
}

interface ResolvedLocationOptions {
  strides: readonly number[];
  octaveBaseScale: number;
  centerRatio: number;
  ignoreRatio: number;
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
  return { strides, octaveBaseScale, centerRatio, ignoreRatio };
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

/**
 * `[G, H, W]` bool: the cells of an `height × width` map with stride `stride` inside
 * R(box, σ), the rectangle of side σ·(w, h) around the box centre (GA §3.4). On the map a box
 * edge maps to x/stride; the region's ends are the interpolations at r = (1 − σ)/2 rounded
 * half up, inclusive (mmdetection's `calc_region`, which rounds the same ends), clamped to the map
 * by the comparison.
 */
function regionMask(
  gtBoxes: tf.Tensor2D,
  stride: number,
  ratio: number,
  height: number,
  width: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const r = (1 - ratio) / 2;
    const scaled = tf.div(gtBoxes, stride);
    const [x1, y1, x2, y2] = tf.split(scaled, 4, 1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const roundHalfUp = (v: tf.Tensor) => tf.floor(tf.add(v, 0.5));
    const lerp = (a: tf.Tensor, b: tf.Tensor, t: number) =>
      roundHalfUp(tf.add(tf.mul(a, 1 - t), tf.mul(b, t)));
    const left = tf.reshape(lerp(x1, x2, r), [-1, 1, 1]);
    const right = tf.reshape(lerp(x1, x2, 1 - r), [-1, 1, 1]);
    const top = tf.reshape(lerp(y1, y2, r), [-1, 1, 1]);
    const bottom = tf.reshape(lerp(y1, y2, 1 - r), [-1, 1, 1]);
    const cols = tf.reshape(tf.range(0, width, 1, 'float32'), [1, 1, width]);
    const rows = tf.reshape(tf.range(0, height, 1, 'float32'), [1, height, 1]);
    const inCols = tf.logicalAnd(tf.greaterEqual(cols, left), tf.lessEqual(cols, right));
    const inRows = tf.logicalAnd(tf.greaterEqual(rows, top), tf.lessEqual(rows, bottom));
    return tf.logicalAnd(inRows, inCols) as tf.Tensor3D;
  });
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
  return featmapSizes.map(([height, width], level) =>
    tf.tidy(() => {
      const stride = strides[level] as number;
      const perImage = gtBoxes.map((boxes) => {
        if (boxes.shape[0] === 0) return tf.zeros([height, width], 'int32');
        const levels = tf.reshape(gtLevels(boxes, resolved), [-1, 1, 1]);
        const onLevel = tf.equal(levels, level);
        const nearLevel = tf.lessEqual(tf.abs(tf.sub(levels, level)), 1);
        const centre = tf.any(
          tf.logicalAnd(regionMask(boxes, stride, centerRatio, height, width), onLevel),
          0,
        );
        const ignore = tf.any(
          tf.logicalAnd(regionMask(boxes, stride, ignoreRatio, height, width), nearLevel),
          0,
        );
        const labels = tf.where(
          ignore,
          tf.fill([height, width], LOCATION_IGNORE, 'int32'),
          tf.zeros([height, width], 'int32'),
        );
        return tf.where(centre, tf.fill([height, width], LOCATION_POSITIVE, 'int32'), labels);
      });
      return tf.stack(perImage) as tf.Tensor3D;
    }),
  );
}
