import type * as tf from '@tensorflow/tfjs-core';
import type { Reads } from '../backend/readback';
import type { AssignResult } from './assigner';

/**
 * Which priors a loss uses (mmdetection's `SamplingResult`). Every tensor is new and owned
 * by the caller: dispose with `disposeSamplingResult`.
 */
export interface SamplingResult {
  /** `[P]` int32 ascending indices of positive candidates. */
  posIndices: tf.Tensor1D;
  /** `[Q]` int32 ascending indices of negative candidates. */
  negIndices: tf.Tensor1D;
  /** `[P]` int32 0-based gt index each positive is assigned to. */
  posGtIndices: tf.Tensor1D;
  /**
   * `[C, 4]` the boxes the indices point into: the priors, or `[gtBoxes; priors]` when the
   * sampler adds ground truth as proposals (then the first `numGts` candidates are gts).
   */
  candidates: tf.Tensor2D;
  /** Number of ground-truth boxes prepended to `candidates` (0 unless gts were added). */
  numGtCandidates: number;
}

/** Picks positive and negative priors from an assignment. Uses no gradient. */
export interface Sampler {
  sample(assignResult: AssignResult, priors: tf.Tensor2D, gtBoxes: tf.Tensor2D): SamplingResult;
  /**
   * `sample` as steps that yield each tensor it reads back (`Reads`): a training step's
   * prepare phase runs them with `readAsync` on a backend without synchronous readback
   * (webgpu). The same draws as `sample`.
   */
  sampleSteps?(
    assignResult: AssignResult,
    priors: tf.Tensor2D,
    gtBoxes: tf.Tensor2D,
  ): Reads<SamplingResult>;
}
