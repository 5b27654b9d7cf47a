import type * as tf from '@tensorflow/tfjs-core';

/**
 * The ground truth of a batch as heads read it: one entry per image, boxes xyxy in the
 * coordinates of the padded network input, labels contiguous `0..K-1`.
 */
export interface HeadTargets {
  gtBoxes: readonly tf.Tensor2D[];
  gtLabels: readonly tf.Tensor1D[];
  /** Regions (COCO crowd) whose priors are neither positive nor negative. */
  gtIgnoreBoxes?: readonly tf.Tensor2D[];
}

/** `[height, width]` of each image's valid (unpadded) region in the network input. */
export type ImageShape = readonly [height: number, width: number];

/** Detections of one image on the host, boxes xyxy in network-input pixels. */
export interface Detections {
  /** `[N·4]` xyxy. */
  boxes: Float32Array;
  /** `[N]` scores in decreasing order. */
  scores: Float32Array;
  /** `[N]` contiguous labels `0..K-1`. */
  labels: Int32Array;
}

/** A named record of scalar losses (`loss_cls`, `loss_bbox`, `loss_rpn_cls`, ...). */
export type LossRecord = Record<string, tf.Scalar>;

/**
 * A classification loss over M samples: logits `[M, C]`, int32 labels `[M]` in mmdetection's
 * convention (label `K` = background), per-sample weights `[M]`; returns the weighted SUM
 * (heads divide by their own average factor).
 */
export type ClassificationLoss = (
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  weights: tf.Tensor1D,
) => tf.Scalar;

/** A box regression loss over P positives, `pred`/`target` `[P, 4]` encoded deltas; returns the SUM. */
export type RegressionLoss = (pred: tf.Tensor2D, target: tf.Tensor2D) => tf.Scalar;
