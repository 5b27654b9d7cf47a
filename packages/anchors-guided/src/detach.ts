import { untaped } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A copy of `x` that the gradient tape does not connect to `x` (PyTorch's `detach()`).
 * A stop-gradient whose input is `x` is not enough here: the tape would still see a path
 * from the parameters through the copy into e.g. the indices an assigner gathers with, and
 * tfjs refuses gradients for int32 gather indices. So the copy is made off the tape
 * (`untaped`): no tape node links it to `x`.
 */
export function detach<T extends tf.Tensor>(x: T): T {
  return untaped(() => tf.clone(x));
}
