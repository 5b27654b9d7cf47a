import type * as tf from '@tensorflow/tfjs-core';
import type { HeadTargets, ImageShape, LossRecord } from './types';

/** What a dense head hands its anchor function on one FPN level. */
export interface AnchorLevelInput {
  /** 0-based index into the head's levels (P3 = 0 for RetinaNet). */
  level: number;
  /** Output of the classification tower, `[B, H, W, C]`. */
  clsFeature: tf.Tensor4D;
  /** Output of the regression tower (the same tensor when the head has one shared tower, as RPN). */
  regFeature: tf.Tensor4D;
  training: boolean;
}

/**
 * What an anchor function predicts on one level. `A` is the number of anchors per location
 * (A fixed shapes for sliding-window anchors, any number for MetaAnchor, 1 for Guided
 * Anchoring); rows are ordered (H, W, A) as `PriorGenerator.gridPriors`.
 */
export interface AnchorLevelOutput {
  /** `[B, H·W·A, K]` classification logits. */
  clsScores: tf.Tensor3D;
  /** `[B, H·W·A, 4]` box deltas, encoded by the head's box coder relative to `priors`. */
  boxDeltas: tf.Tensor3D;
  /**
   * The anchors the predictions refer to: `[H·W·A, 4]` shared by the batch (sliding
   * window, MetaAnchor) or `[B, H·W·A, 4]` per image (Guided Anchoring's predicted shapes).
   * Never carries a gradient to the loss: heads only assign, encode and decode with it.
   */
  priors: tf.Tensor2D | tf.Tensor3D;
  /**
   * `[B, H·W·A]` bool: the anchors inference evaluates (Guided Anchoring keeps locations
   * with p > εL); absent means all.
   */
  evaluated?: tf.Tensor2D;
  /** Tensors only the scheme's own `auxiliaryLosses` read (e.g. GA's location and shape maps). */
  extras?: Record<string, tf.Tensor>;
}

/** Everything an anchor scheme may read when it adds its own losses. */
export interface AuxiliaryLossContext {
  targets: HeadTargets;
  /** Valid size of each image in the padded input. */
  imageShapes: readonly ImageShape[];
}

/**
 * The last layer of a dense head: MetaAnchor's "anchor function" F_b (eq. 1) for every anchor
 * b of every location. Heads own the towers, the targets (assigner, sampler, coder) and the
 * losses; the anchor function decides which anchors exist and how their class and box filters
 * are obtained:
 * - `DenseAnchorFunction`: sliding-window anchors from a prior generator, A·K + A·4 fixed
 *   filters (RetinaNet, RPN);
 * - MetaAnchor: filters θ_b = θ* + W2·relu(W1·b) generated from arbitrary anchor boxes;
 * - Guided Anchoring: one predicted anchor per location, features adapted by a deformable
 *   conv, plus its location / shape losses through `auxiliaryLosses`.
 * Every returned tensor is new and owned by the caller.
 */
export interface AnchorFunction {
  /** Classes K each anchor is scored for (1 for RPN objectness). */
  readonly numClasses: number;
  /** Number of levels it serves. */
  readonly numLevels: number;
  /** Called once before the levels of a forward pass (MetaAnchor samples its training anchors here). */
  beginForward?(options: { training: boolean; batchSize: number }): void;
  apply(input: AnchorLevelInput): AnchorLevelOutput;
  /** Losses the scheme adds to the head's (GA's `loss_loc`, `loss_shape`). */
  auxiliaryLosses?(
    outputs: readonly AnchorLevelOutput[],
    context: AuxiliaryLossContext,
  ): LossRecord;
  /** Frees tensors it caches (not the parameters, which live in the model's store). */
  dispose?(): void;
}

/** How a head builds its anchor function: the seam a scheme plugs into. */
export interface AnchorFunctionContext {
  /** Where the function's parameters live (mmdetection names: `retina_cls`, `rpn_cls`, ...). */
  store: import('@det/core').ParameterStore;
  /** Channels of the tower outputs. */
  inChannels: number;
  numClasses: number;
  /** Names of the classification and regression output layers (`retina_cls`/`retina_reg`, `rpn_cls`/`rpn_reg`). */
  clsName: string;
  regName: string;
}

export type AnchorFunctionFactory = (context: AnchorFunctionContext) => AnchorFunction;
