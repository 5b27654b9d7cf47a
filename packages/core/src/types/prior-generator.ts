import type * as tf from '@tensorflow/tfjs-core';
import type { Size2D } from './box-format';

/**
 * Places priors (anchors or points) on every FPN level's feature grid (mmdetection's
 * prior generators). Returned tensors are new; the caller disposes them.
 */
export interface PriorGenerator {
  /** Number of feature levels this generator is configured for. */
  readonly numLevels: number;
  /** Priors per grid location on each level (A in `[H·W·A, 4]`). */
  readonly numBasePriors: readonly number[];
  /**
   * One `[H·W·A, 4]` xyxy float32 tensor per level, ordered (H, W, A): row-major over the
   * grid, the A base priors of a location contiguous.
   */
  gridPriors(featmapSizes: readonly Size2D[]): tf.Tensor2D[];
  /**
   * One `[H·W·A]` bool tensor per level: false for priors whose grid cell lies in the
   * padding beyond `padShape` (`[height, width]` of the padded image, mmdetection's
   * `valid_flags`).
   */
  validFlags(featmapSizes: readonly Size2D[], padShape: Size2D): tf.Tensor1D[];
}
