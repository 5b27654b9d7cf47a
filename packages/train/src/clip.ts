import * as tf from '@tensorflow/tfjs-core';

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
  return tf.tidy(() => {
    const squares = Object.values(gradients).map((gradient) => tf.sum(tf.square(gradient)));
    const norm = tf.sqrt(squares.reduce((a, b) => tf.add(a, b), tf.scalar(0))) as tf.Scalar;
    const factor = maxNorm > 0 ? tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1) : undefined;
    const clipped: Record<string, tf.Tensor> = {};
    for (const [name, gradient] of Object.entries(gradients))
      clipped[name] = factor ? tf.mul(gradient, factor) : tf.clone(gradient);
    return { gradients: clipped, norm };
  });
}
