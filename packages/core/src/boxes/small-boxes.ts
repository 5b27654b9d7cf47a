import * as tf from '@tensorflow/tfjs-core';
import { assertBoxes2D } from './validate-boxes';

function assertMinSize(minSize: number, where: string): void {
  if (!Number.isFinite(minSize))
    throw new Error(`${where}: minSize must be a finite number, got ${minSize}`);
}

/** `[N]` bool: true where both sides are ≥ `minSize` (torchvision's `remove_small_boxes` test). */
export function largeBoxMask(boxes: tf.Tensor2D, minSize: number): tf.Tensor1D {
  assertBoxes2D(boxes, 'largeBoxMask', 'boxes');
  assertMinSize(minSize, 'largeBoxMask');
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = tf.unstack(boxes, 1);
    return tf.logicalAnd(
      tf.greaterEqual(tf.sub(x2!, x1!), minSize),
      tf.greaterEqual(tf.sub(y2!, y1!), minSize),
    ) as tf.Tensor1D;
  });
}

/**
 * Indices of the boxes whose sides are both ≥ `minSize`, ascending (torchvision's
 * `remove_small_boxes`). Reads the mask back: use in post-processing, not in a loss.
 */
export function removeSmallBoxes(boxes: tf.Tensor2D, minSize: number): Int32Array {
  const mask = largeBoxMask(boxes, minSize);
  const flags = mask.dataSync();
  mask.dispose();
  let count = 0;
  for (let i = 0; i < flags.length; i++) if (flags[i]) count++;
  const keep = new Int32Array(count);
  for (let i = 0, k = 0; i < flags.length; i++) if (flags[i]) keep[k++] = i;
  return keep;
}
