import * as tf from '@tensorflow/tfjs-core';
import { checkFloat, formatShape } from './checks';
import {
  checkWeightedOptions,
  sumAll,
  type WeightedLossOptions,
  weightReduceLoss,
} from './reduction';

export interface SoftmaxCrossEntropyOptions extends WeightedLossOptions {
  /** Label whose rows contribute 0 loss and 0 gradient. Default −100 (torch, mmdetection). */
  ignoreIndex?: number;
  /** Per-class weight (length C), torch's `weight` argument of `F.cross_entropy`. */
  classWeight?: readonly number[];
  /**
   * With `'mean'` and no `avgFactor`, divide by the number of non-ignored labels instead of N
   * (mmdetection's `avg_non_ignore`; torch's own `'mean'` when no class weight is given).
   * Default false (mmdetection's default).
   */
  avgNonIgnore?: boolean;
}

/**
 * Softmax cross-entropy over the last axis, `ℓ_i = −w[y_i] · log softmax(x_i)[y_i]`, as torch's
 * `F.cross_entropy(pred, label, weight=classWeight, ignore_index, reduction='none')`, then
 * mmdetection's `cross_entropy` weighting and reduction. `pred` is [N, C] float32 logits,
 * `target` [N] int32 labels in [0, C) or `ignoreIndex`; the log-softmax subtracts the row max,
 * so logits of ±100 stay finite. Labels outside [0, C) other than `ignoreIndex` contribute 0
 * (torch raises; checking would need a read-back). Elementwise loss is [N].
 */
export function softmaxCrossEntropy(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: SoftmaxCrossEntropyOptions = {},
): tf.Tensor {
  const name = 'softmaxCrossEntropy';
  const { ignoreIndex = -100, classWeight, avgNonIgnore = false } = options;
  checkFloat(name, 'pred', pred);
  if (pred.rank !== 2) {
    throw new Error(`${name}: pred must have shape [N,C], got ${formatShape(pred.shape)}`);
  }
  const [count, classes] = pred.shape as [number, number];
  if (target.dtype !== 'int32' || target.rank !== 1 || target.shape[0] !== count) {
    throw new Error(
      `${name}: target must be int32 labels of shape [${count}], got ${target.dtype} ${formatShape(target.shape)}`,
    );
  }
  if (!Number.isInteger(ignoreIndex)) {
    throw new Error(`${name}: options.ignoreIndex=${ignoreIndex} must be an integer`);
  }
  if (classWeight !== undefined && classWeight.length !== classes) {
    throw new Error(
      `${name}: options.classWeight has ${classWeight.length} entries, pred has ${classes} classes`,
    );
  }
  checkWeightedOptions(name, options);
  return tf.tidy(() => {
    const valid = tf.notEqual(target, ignoreIndex);
    const safeLabels = tf.where(valid, target, tf.zerosLike(target));
    // tfjs-backend-wasm 4.22's OneHot ignores dtype 'float32' (writes int bits): cast instead.
    const picked = tf.cast(tf.oneHot(safeLabels, classes), 'float32');
    let loss = tf.neg(tf.sum(tf.mul(tf.logSoftmax(pred), picked), -1));
    let perLabel: tf.Tensor = tf.cast(valid, 'float32');
    if (classWeight !== undefined) {
      perLabel = tf.mul(perLabel, tf.gather(tf.tensor1d([...classWeight], 'float32'), safeLabels));
    }
    loss = tf.mul(loss, perLabel);
    const reduced =
      avgNonIgnore && options.avgFactor === undefined && (options.reduction ?? 'mean') === 'mean'
        ? { ...options, avgFactor: sumAll(tf.cast(valid, 'float32')) }
        : options;
    return weightReduceLoss(name, loss, reduced);
  });
}
