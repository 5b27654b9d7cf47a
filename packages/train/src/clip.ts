import * as tf from '@tensorflow/tfjs-core';
import { flatten, layoutOf, unflatten } from './flat';

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (torch's `clip_grad_norm_`:
 * factor `maxNorm / (norm + 1e-6)` when below 1; `maxNorm ≤ 0` leaves them as they are).
 * Returns new gradients (the caller disposes both sets) and the norm before clipping as a
 * scalar tensor, so the caller reads it back together with the losses in one transfer.
 */
export function clipGradientNorm(
  gradients: Readonly<Record<string, tf.Tensor>>,
  maxNorm: number,
): { gradients: Record<string, tf.Tensor>; norm: tf.Scalar } {
  const names = Object.keys(gradients);
  if (names.length === 0) return { gradients: {}, norm: tf.scalar(0) };
  const tensors = names.map((name) => gradients[name]!);
  return tf.tidy(() => {
    const { gradient, norm } = clipFlatGradient(flatten(tensors), maxNorm);
    const parts = unflatten(gradient, layoutOf(names, tensors));
    return { gradients: Object.fromEntries(names.map((name, i) => [name, parts[i]!])), norm };
  });
}

/**
 * `clipGradientNorm` on all gradients concatenated into one vector (`@det/train`'s `flatten`):
 * the norm and the scaling are three kernels however many parameters there are.
 */
export function clipFlatGradient(
  gradient: tf.Tensor1D,
  maxNorm: number,
): { gradient: tf.Tensor1D; norm: tf.Scalar } {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(gradient))) as tf.Scalar;
    if (maxNorm <= 0) return { gradient: tf.clone(gradient), norm };
    const factor = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    return { gradient: tf.mul(gradient, factor) as tf.Tensor1D, norm };
  });
}
