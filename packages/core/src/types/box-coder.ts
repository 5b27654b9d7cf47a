import type * as tf from '@tensorflow/tfjs-core';
import type { Size2D } from './box-format';

export interface DecodeOptions {
  /** Clip decoded boxes to `[0, width] × [0, height]` of this `[height, width]`. */
  maxShape?: Size2D;
}

/**
 * Turns boxes into regression targets relative to priors and back (mmdetection's
 * `BaseBBoxCoder`, detectron2's `Box2BoxTransform`). Invariant: `decode(p, encode(p, b)) = b`.
 *
 * Both methods take `[..., 4]` xyxy tensors that broadcast against each other, return a
 * new tensor the caller disposes, and are differentiable in their second argument.
 */
export interface BoxCoder {
  /** Length of the last axis of an encoded box (4 for delta coders). */
  readonly encodeSize: number;
  encode(priors: tf.Tensor, targets: tf.Tensor): tf.Tensor;
  decode(priors: tf.Tensor, deltas: tf.Tensor, options?: DecodeOptions): tf.Tensor;
}
