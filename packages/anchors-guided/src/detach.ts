import * as tf from '@tensorflow/tfjs-core';

type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/**
 * A copy of `x` that the gradient tape does not connect to `x` (PyTorch's `detach()`).
 * A stop-gradient whose input is `x` is not enough here: the tape would still see a path
 * from the parameters through the copy into e.g. the indices an assigner gathers with, and
 * tfjs refuses gradients for int32 gather indices. So the copy is made inside a custom op
 * whose only recorded input is a throw-away scalar: ops inside a kernel are not taped.
 */
export function detach<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    const copy = tf.customGrad(((_unused: tf.Tensor) => ({
      value: tf.clone(x),
      gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
    })) as unknown as CustomGradientFunc);
    return copy(tf.scalar(0)) as T;
  });
}
