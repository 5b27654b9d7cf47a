import { boundedIouShapeLoss } from '@det/losses';
import * as tf from '@tensorflow/tfjs-core';
import type { ShapeTargets } from './shape-targets';

export interface ShapeDecodeOptions {
  /** σ of `w = σ·s·e^dw` (GA §3.2: 8 for GA-RPN, 4 for GA-RetinaNet). Default 8. */
  squareScale?: number;
  /**
   * Multiplies (dw, dh) before the exponential: the std of mmdetection's `anchor_coder`
   * (0.14 in the GA configs); 1 is the paper's plain `e^dw`. Default 1.
   */
  deltaStd?: number;
}

function resolveDecode(options: ShapeDecodeOptions): Required<ShapeDecodeOptions> {
  const squareScale = options.squareScale ?? 8;
  const deltaStd = options.deltaStd ?? 1;
  if (!(squareScale > 0))
    throw new Error(`decodeShape: squareScale must be > 0, got ${squareScale}`);
  if (!(deltaStd > 0)) throw new Error(`decodeShape: deltaStd must be > 0, got ${deltaStd}`);
  return { squareScale, deltaStd };
}

/**
 * Anchor width and height from the shape branch (GA eq. 2 / §3.2): `w = σ·s·e^(std·dw)`,
 * `h = σ·s·e^(std·dh)`. `shapePred` `[..., 2]` (dw, dh) of a level with stride `stride`;
 * returns `[..., 2]` (w, h) in input pixels, differentiable.
 */
export function decodeShape(
  shapePred: tf.Tensor,
  stride: number,
  options: ShapeDecodeOptions = {},
): tf.Tensor {
  const { squareScale, deltaStd } = resolveDecode(options);
  return tf.tidy(() => tf.mul(tf.exp(tf.mul(shapePred, deltaStd)), squareScale * stride));
}

export interface ShapeLossOptions extends ShapeDecodeOptions {
  strides: readonly number[];
  /** Smooth-L1 β of the bounded IoU terms (mmdetection 0.2). Default 0.2. */
  beta?: number;
  /**
   * Divisor: `'samples'` (sampled positives + negatives, mmdetection's `num_total_samples`)
   * or `'positives'`. At least 1 either way. Default `'samples'`.
   */
  normalizer?: 'samples' | 'positives';
  /** Multiplies the loss (mmdetection `loss_shape.loss_weight`, 1). Default 1. */
  lossWeight?: number;
}

/**
 * GA's shape loss (eq. 6): the bounded IoU loss on (w, h) only, centres fixed at the square
 * anchors', at sampled positive locations. `shapePreds` per level `[B, H, W, 2]` (dw, dh).
 * The gradient reaches (dw, dh) only through w/h. Returns a scalar.
 */
export function shapeLoss(
  shapePreds: readonly tf.Tensor4D[],
  targets: ShapeTargets,
  options: ShapeLossOptions,
): tf.Scalar {
  const { strides } = options;
  if (shapePreds.length !== strides.length) {
    throw new Error(`shapeLoss: ${shapePreds.length} shape levels for ${strides.length} strides`);
  }
  const normalizer = options.normalizer ?? 'samples';
  const count =
    normalizer === 'samples' ? targets.numPositives + targets.numNegatives : targets.numPositives;
  const { squareScale, deltaStd } = resolveDecode(options);
  const numLocations = shapePreds.reduce((sum, pred) => sum + pred.shape[1] * pred.shape[2], 0);
  if (numLocations !== targets.weights.shape[1]) {
    throw new Error(
      `shapeLoss: predictions have ${numLocations} locations, targets ${targets.weights.shape[1]}`,
    );
  }
  // σ·s of every location, all levels in (level, H, W) order: one decode for the whole batch.
  const scale = new Float32Array(numLocations);
  let offset = 0;
  shapePreds.forEach((pred, level) => {
    const count = pred.shape[1] * pred.shape[2];
    scale.fill(squareScale * (strides[level] as number), offset, offset + count);
    offset += count;
  });
  return tf.tidy(() => {
    const batch = targets.weights.shape[0];
    const deltas = tf.concat(
      shapePreds.map((pred) => tf.reshape(pred, [batch, -1, 2])),
      1,
    );
    const predWh = tf.mul(
      tf.exp(tf.mul(deltas, deltaStd)),
      tf.tensor3d(scale, [1, numLocations, 1]),
    );
    // (x1, y1, x2, y2) → (x2 − x1, y2 − y1) as one matMul (the zero terms add exactly).
    const targetWh = tf.matMul(
      tf.reshape(targets.boxTargets, [-1, 4]),
      tf.tensor2d([-1, 0, 0, -1, 1, 0, 0, 1], [4, 2]),
    );
    const loss = boundedIouShapeLoss(tf.reshape(predWh, [-1, 2]), targetWh, {
      beta: options.beta ?? 0.2,
      weight: tf.reshape(targets.weights, [-1, 1]),
      reduction: 'mean',
      avgFactor: Math.max(count, 1),
    });
    return tf.mul(loss, options.lossWeight ?? 1) as tf.Scalar;
  });
}
