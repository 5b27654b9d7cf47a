import * as tf from '@tensorflow/tfjs-core';

/**
 * Ascending indices of the true entries of a `[N]` bool mask, given their `count` (a
 * synchronous `tf.where`): each true entry is scattered to slot `cumsum − 1`, the false
 * ones to a spare last slot that is then dropped. O(N) on the backend, no host loop.
 */
export function maskIndices(mask: tf.Tensor1D, count: number): tf.Tensor1D {
  if (count === 0) return tf.zeros([0], 'int32') as tf.Tensor1D;
  return tf.tidy(() => {
    const n = mask.shape[0];
    const asInt = tf.cast(mask, 'int32');
    const slot = tf.where(
      mask,
      tf.sub(tf.cumsum(asInt), tf.scalar(1, 'int32')),
      tf.fill([n], count, 'int32'),
    );
    const scattered = tf.scatterND(tf.reshape(slot, [n, 1]), tf.range(0, n, 1, 'int32'), [
      count + 1,
    ]);
    return tf.slice(scattered, [0], [count]) as tf.Tensor1D;
  });
}

/** Sorts a `[K]` int32 tensor of distinct non-negative indices ascending (top-k on negated values). */
export function sortIndicesAscending(indices: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = indices.shape[0];
    const { values } = tf.topk(tf.neg(indices), k, true);
    return tf.neg(values) as tf.Tensor1D;
  });
}

/** `values[indices] − 1` as int32: the 0-based gt of each positive (empty-safe). */
export function gtOfPositives(gtIndices: tf.Tensor1D, posIndices: tf.Tensor1D): tf.Tensor1D {
  if (posIndices.shape[0] === 0) return tf.zeros([0], 'int32') as tf.Tensor1D;
  return tf.tidy(
    () => tf.sub(tf.gather(gtIndices, posIndices), tf.scalar(1, 'int32')) as tf.Tensor1D,
  );
}
