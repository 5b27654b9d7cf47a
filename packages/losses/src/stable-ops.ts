import * as tf from '@tensorflow/tfjs-core';

type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/**
 * |x| whose gradient at 0 is 0 (torch's `sign(x)`), not tfjs' stock −1: with the stock
 * subgradient a perfectly matched coordinate would still be pushed.
 */
export const absSignGradient = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.abs(x),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.sign(saved[0] as tf.Tensor)),
  };
}) as unknown as CustomGradientFunc) as (x: tf.Tensor) => tf.Tensor;

/** Identity whose gradient is zero: torch's `with torch.no_grad()` for a loss target. */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as CustomGradientFunc) as (x: tf.Tensor) => tf.Tensor;

/**
 * Smooth L1 (Huber with slope 1) of a NON-NEGATIVE `distance`: `0.5·d²/β` below β,
 * `d − 0.5·β` above (Fast R-CNN eq. 3; torch's `smooth_l1_loss`). Written with
 * `c = min(d, β)` as `0.5·c²/β + (d − c)`, which is the same function with no comparison
 * on the tape; β = 0 is `d` (L1).
 */
export function smoothL1OfDistance(distance: tf.Tensor, beta: number): tf.Tensor {
  return tf.tidy(() => {
    if (beta === 0) return distance;
    const clipped = tf.minimum(distance, beta);
    return tf.add(tf.mul(tf.square(clipped), 0.5 / beta), tf.sub(distance, clipped));
  });
}
