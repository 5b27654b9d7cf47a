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
 * Below this, `(1 − p_t)^γ` is evaluated at the floor instead (γ ∉ {1, 2}): its value there is
 * below float32 resolution of the loss anyway, and `γ·b^(γ−1)` at b = 0 would be infinite for
 * γ < 1.
 */
const MODULATING_FLOOR = 1e-30;

type Grad = Parameters<typeof tf.customGrad>[0];

/**
 * Elementwise focal loss with its closed-form derivative (one fused backward instead of the
 * tape of ~15 elementwise ops, which on wasm costs more than the forward pass):
 *   `ℓ = α_t·ce·b^γ`, `ce = max(x, 0) − x·t + log1p(e^(−|x|))`, `b = 1 − p_t = t·σ(−x) + (1 − t)·σ(x)`,
 *   `dℓ/dx = α_t·((σ(x) − t)·b^γ + ce·γ·b^(γ−1)·(1 − 2t)·σ(x)·σ(−x))`.
 * `b^(γ−1)` is taken at b clipped to the floor, finite for every γ ≥ 0; since
 * `σ(x)·σ(−x) ≤ b`, the product stays bounded by `b^γ`. The target is a constant.
 */
function focalElementwise(
  logits: tf.Tensor,
  target: tf.Tensor,
  alpha: number,
  gamma: number,
): tf.Tensor {
  const op = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const probability = tf.sigmoid(x);
    const complement = tf.sigmoid(tf.neg(x));
    const ce = bceWithLogitsElementwise(x, target);
    const base = tf.add(probability, tf.mul(target, tf.sub(complement, probability)));
    const modulating = gamma === 0 ? tf.onesLike(x) : modulatingFactor(base, gamma);
    // α_t = α·t + (1 − α)(1 − t), one multiply-add; α < 0 turns it off (torchvision).
    const alphaT = alpha >= 0 ? tf.add(tf.mul(target, 2 * alpha - 1), 1 - alpha) : tf.onesLike(x);
    // The target is saved too: a one-hot target made inside the caller's tidy is gone by then.
    save([probability, complement, ce, base, modulating, alphaT, target]);
    return {
      value: tf.mul(tf.mul(alphaT, ce), modulating),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [p, q, crossEntropy, b, m, a, t] = saved as [
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
          ];
          let derivative = tf.mul(tf.sub(p, t), m);
          if (gamma !== 0) {
            const slope =
              gamma === 1
                ? tf.onesLike(b)
                : gamma === 2
                  ? tf.mul(b, 2)
                  : derivativeFactor(b, gamma);
            const dBase = tf.mul(tf.mul(tf.sub(1, tf.mul(t, 2)), p), q);
            derivative = tf.add(derivative, tf.mul(tf.mul(crossEntropy, slope), dBase));
          }
          return tf.mul(dy, tf.mul(a, derivative));
        }),
    };
  }) as unknown as Grad) as (x: tf.Tensor) => tf.Tensor;
  return op(logits);
}

/** `b^γ`. γ = 1 and 2 (RetinaNet's) avoid `pow`, which is slow on wasm. */
function modulatingFactor(base: tf.Tensor, gamma: number): tf.Tensor {
  if (gamma === 1) return tf.clone(base);
  if (gamma === 2) return tf.square(base);
  return tf.pow(tf.clipByValue(base, MODULATING_FLOOR, 1), gamma);
}

/** `γ·b^(γ−1)` at b clipped to the floor (ClipByValue is cheap on wasm; tf.maximum is not). */
function derivativeFactor(base: tf.Tensor, gamma: number): tf.Tensor {
  return tf.mul(tf.pow(tf.clipByValue(base, MODULATING_FLOOR, 1), gamma - 1), gamma);
}

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
 * `pred`'s shape; then mmdetection's weighting and reduction (default `'mean'`). The target
 * gets no gradient (as mmcv's `sigmoid_focal_loss`).
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
    const loss = focalElementwise(pred, t, alpha, gamma);
    return weightReduceLoss(name, loss, options);
  });
}
