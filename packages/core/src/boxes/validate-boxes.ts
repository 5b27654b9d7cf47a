import type * as tf from '@tensorflow/tfjs-core';

/** Throws a clear error unless `boxes` is a float `[N, 4]` tensor. */
export function assertBoxes2D(boxes: tf.Tensor, where: string, name: string): void {
  if (boxes.rank !== 2 || boxes.shape[1] !== 4) {
    throw new Error(`${where}: ${name} must have shape [N, 4], got [${boxes.shape.join(', ')}]`);
  }
  if (boxes.dtype !== 'float32') {
    throw new Error(`${where}: ${name} must be float32, got ${boxes.dtype}`);
  }
}

/** Throws unless the last axis of `boxes` has length 4. */
export function assertBoxesLastAxis(boxes: tf.Tensor, where: string, name: string): void {
  if (boxes.rank < 1 || boxes.shape[boxes.rank - 1] !== 4) {
    throw new Error(`${where}: ${name} must have shape [..., 4], got [${boxes.shape.join(', ')}]`);
  }
}
