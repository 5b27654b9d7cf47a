import type * as tf from '@tensorflow/tfjs-core';

/** `gtIndices` value of a prior that takes no part in the loss. */
export const ASSIGNED_IGNORE = -1;
/** `gtIndices` value of a negative (background) prior. */
export const ASSIGNED_NEGATIVE = 0;

/**
 * What an assigner decided for each of N priors (mmdetection's `AssignResult`). Every
 * tensor is new and owned by the caller: dispose with `disposeAssignResult`.
 */
export interface AssignResult {
  /** Number of ground-truth boxes assigned against. */
  numGts: number;
  /**
   * `[N]` int32, mmdetection's encoding: −1 ignore, 0 negative, k + 1 positive for gt k
   * (0-based). Positives are `gtIndices > 0`; their gt is `gtIndices − 1`.
   */
  gtIndices: tf.Tensor1D;
  /** `[N]` float32: each prior's best overlap with any gt (0 when there is none; −1 if ignored). */
  maxOverlaps: tf.Tensor1D;
  /** `[N]` int32 class label of the assigned gt for positives, −1 otherwise; null without `gtLabels`. */
  labels: tf.Tensor1D | null;
}

export interface AssignOptions {
  /** `[G]` int32 class labels of the ground-truth boxes. */
  gtLabels?: tf.Tensor1D;
  /** `[I, 4]` xyxy boxes to ignore (COCO `iscrowd` regions). */
  gtIgnoreBoxes?: tf.Tensor2D;
}

/** Labels priors as positive (with their gt), negative or ignored. Uses no gradient. */
export interface Assigner {
  /** `priors` `[N, 4]` and `gtBoxes` `[G, 4]`, xyxy; either may be empty. */
  assign(priors: tf.Tensor2D, gtBoxes: tf.Tensor2D, options?: AssignOptions): AssignResult;
}
