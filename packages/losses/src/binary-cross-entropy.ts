import * as tf from '@tensorflow/tfjs-core';
import { checkFloat, checkSameShape } from './checks';
import { checkWeightedOptions, type WeightedLossOptions, weightReduceLoss } from './reduction';

/**
 * Elementwise BCE on logits, `max(x, 0) − x·t + log(1 + e^(−|x|))` (torch's
 * `binary_cross_entropy_with_logits`): finite for any logit. At x = 0 tfjs' subgradients
 * (relu' = 0, |x|' = −1) add up to the true derivative σ(0) − t, so the stock `abs` stays.
 */
export function bceWithLogitsElementwise(logits: tf.Tensor, target: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.add(
      tf.sub(tf.relu(logits), tf.mul(logits, target)),
      tf.log1p(tf.exp(tf.neg(tf.abs(logits)))),
    ),
  );
}

/**
 * Binary cross-entropy on logits (torch `F.binary_cross_entropy_with_logits`):
 * `ℓ = max(x, 0) − x·t + log1p(e^(−|x|))`, elementwise, then mmdetection's weighting and
 * reduction. `target` holds probabilities in [0, 1] with the shape of `pred`.
 */
export function binaryCrossEntropyWithLogits(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: WeightedLossOptions = {},
): tf.Tensor {
  const name = 'binaryCrossEntropyWithLogits';
  checkFloat(name, 'pred', pred);
  checkFloat(name, 'target', target);
  checkSameShape(name, pred, target);
  checkWeightedOptions(name, options);
  return tf.tidy(() => weightReduceLoss(name, bceWithLogitsElementwise(pred, target), options));
}
