import * as tf from '@tensorflow/tfjs-core';
import { bceWithLogitsElementwise } from './binary-cross-entropy';
import { checkFloat, checkNumber, formatShape, sameShape } from './checks';
import { checkWeightedOptions, type WeightedLossOptions, weightReduceLoss } from './reduction';

export interface SigmoidFocalLossOptions extends WeightedLossOptions {
  /** Weight of positives, `1 − α` for negatives; a negative value turns it off. Default 0.25 (RetinaNet). */
  alpha?: number;
  /** Focusing exponent γ ≥ 0 on `(1 − p_t)`. Default 2 (RetinaNet). */
  gamma?: number;
}

/**
 * Below this, `(1 − p_t)^γ` is evaluated at the floor instead: its value there is below
 * float32 resolution of the loss anyway, and `pow`'s derivative `γ·b^(γ−1)` at b = 0 would be
 * infinite for γ < 1 (and 0·∞ = NaN for γ = 0 after the chain rule).
 */
const MODULATING_FLOOR = 1e-30;

function checkTarget(name: string, pred: tf.Tensor, target: tf.Tensor): void {
  const labelShape = formatShape(pred.shape.slice(0, -1));
  if (target.dtype === 'int32') {
    if (pred.rank < 1 || !sameShape(target.shape, pred.shape.slice(0, -1))) {
      throw new Error(
        `${name}: int32 target labels must have shape ${labelShape} for pred ${formatShape(pred.shape)}, got ${formatShape(target.shape)}`,
      );
    }
    return;
  }
  checkFloat(name, 'target', target);
  if (!sameShape(target.shape, pred.shape)) {
    throw new Error(
      `${name}: target shape ${formatShape(target.shape)} does not match pred shape ${formatShape(pred.shape)} (or pass int32 labels of shape ${labelShape})`,
    );
  }
}

/**
 * Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", eq. 5), exactly as
 * torchvision's `ops.sigmoid_focal_loss`:
 *   `ℓ = α_t · BCE(x, t) · (1 − p_t)^γ`, `p_t = p·t + (1 − p)(1 − t)`, `α_t = α·t + (1 − α)(1 − t)`.
 * Computed stably: BCE on logits, and `1 − p_t = t·σ(−x) + (1 − t)·σ(x)` from both sigmoids so
 * saturated logits (±100) lose nothing. `target` is either a float tensor of `pred`'s shape
 * (binary or soft), or int32 labels with `pred`'s shape minus the class axis, where label
 * C = `pred.shape[-1]` is background (mmdetection's convention). Elementwise loss has
 * `pred`'s shape; then mmdetection's weighting and reduction (default `'mean'`).
 */
export function sigmoidFocalLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: SigmoidFocalLossOptions = {},
): tf.Tensor {
  const name = 'sigmoidFocalLoss';
  const { alpha = 0.25, gamma = 2 } = options;
  checkFloat(name, 'pred', pred);
  checkNumber(name, 'alpha', alpha, { max: 1 });
  checkNumber(name, 'gamma', gamma, { min: 0 });
  checkWeightedOptions(name, options);
  checkTarget(name, pred, target);
  return tf.tidy(() => {
    // tf.oneHot gives an all-zero row for label C (mmdetection's background) and for negatives;
    // tfjs-backend-wasm 4.22's OneHot ignores dtype 'float32' (writes int bits): cast instead.
    const t =
      target.dtype === 'int32'
        ? tf.cast(tf.oneHot(target, pred.shape[pred.rank - 1] as number), 'float32')
        : target;
    let loss = bceWithLogitsElementwise(pred, t);
    if (gamma !== 0) {
      const oneMinusPt = tf.add(
        tf.mul(t, tf.sigmoid(tf.neg(pred))),
        tf.mul(tf.sub(1, t), tf.sigmoid(pred)),
      );
      loss = tf.mul(loss, tf.pow(tf.maximum(oneMinusPt, MODULATING_FLOOR), gamma));
    }
    if (alpha >= 0) {
      loss = tf.mul(loss, tf.add(tf.mul(t, alpha), tf.mul(tf.sub(1, t), 1 - alpha)));
    }
    return weightReduceLoss(name, loss, options);
  });
}
