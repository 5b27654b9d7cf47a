import type { ParameterStore } from '@det/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { HeadTargets, ImageShape, LossRecord } from './types';

/**
 * The anchor-scheme seam of a dense head, in one place. A dense head is towers followed by an
 * anchor function (MetaAnchor's F_b, eq. 1): the head owns towers, targets and cls/reg losses;
 * the anchor function decides which anchors exist and how their class and box filters are
 * obtained. Every scheme is built the same way — a factory that receives the head's
 * `AnchorFunctionContext` — and keeps no per-forward state: what a forward needs (MetaAnchor's
 * jittered codes) is a `plan` value returned once per forward and handed to every level.
 */

/** Tensors a scheme carries from its forward to its own losses (typed per scheme). */
export type AnchorExtras = Record<string, tf.Tensor>;

/** Everything a scheme learns from the head that builds it. */
export interface AnchorFunctionContext {
  /** Where the function's parameters live (mmdetection names: `retina_cls`, `rpn_cls`, ...). */
  store: ParameterStore;
  /** Channels of the tower outputs. */
  inChannels: number;
  /** Classes K each anchor is scored for (1 for RPN objectness). */
  numClasses: number;
  /** Names of the classification and regression output layers. */
  clsName: string;
  regName: string;
  /** Stride of every level the head serves, finest first. */
  strides: readonly number[];
  /** One tower feeds both outputs (RPN's `rpn_conv`): `clsFeature === regFeature`. */
  sharedTower: boolean;
  /** Kernel of the final cls / reg convs (RetinaNet 3, RPN 1). */
  kernelSize: number;
  /** Initial foreground probability of the class bias (RetinaNet π = 0.01); null: zero bias. */
  priorProbability: number | null;
  /** Seeds whatever the scheme draws (MetaAnchor's jitter, GA's shape sampler). */
  seed: number;
}

/** What a forward pass is: the same for every level. */
export interface ForwardOptions {
  training: boolean;
  batchSize: number;
}

/** What a dense head hands its anchor function on one FPN level. */
export interface AnchorLevelInput<Plan = unknown> {
  /** 0-based index into the head's levels (P3 = 0 for RetinaNet). */
  level: number;
  /** Output of the classification tower, `[B, H, W, C]`. */
  clsFeature: tf.Tensor4D;
  /** Output of the regression tower (the same tensor when the tower is shared, as RPN). */
  regFeature: tf.Tensor4D;
  training: boolean;
  /** The value `plan` returned for this forward. */
  plan: Plan;
}

/**
 * What an anchor function predicts on one level. `A` is the number of anchors per location
 * (A fixed shapes for sliding-window anchors, any number for MetaAnchor, 1 for Guided
 * Anchoring); rows are ordered (H, W, A) as `PriorGenerator.gridPriors`.
 */
export interface AnchorLevelOutput<Extras extends AnchorExtras = AnchorExtras> {
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
  /** `[B, H·W·A]` bool: the anchors inference evaluates (GA: p ≥ εL); absent means all. */
  evaluated?: tf.Tensor2D;
  /** Tensors only the scheme's own `auxiliaryLosses` read (GA's location and shape maps). */
  extras?: Extras;
}

/**
 * Inference predictions at a level's evaluated anchors only (sparse inference, GA §3.4): the
 * rows of every image, image after image. What `AnchorLevelOutput` would give at its
 * `evaluated` rows, without computing the others.
 */
export interface CompactLevelOutput {
  /** `[N, K]` classification logits of the evaluated anchors. */
  clsScores: tf.Tensor2D;
  /** `[N, 4]` box deltas relative to `priors`. */
  boxDeltas: tf.Tensor2D;
  /** `[N, 4]` the evaluated anchors, xyxy. */
  priors: tf.Tensor2D;
  /** Rows of each image (host numbers): image b owns rows [Σ_{c<b} n_c, Σ_{c≤b} n_c). */
  rowsPerImage: readonly number[];
}

/** One level of an inference forward: dense predictions, or only the evaluated anchors'. */
export type InferenceLevelOutput = AnchorLevelOutput | CompactLevelOutput;

/** Whether an inference level output holds only the evaluated anchors' rows. */
export function isCompactLevelOutput(output: InferenceLevelOutput): output is CompactLevelOutput {
  return 'rowsPerImage' in output;
}

/** Everything an anchor scheme may read when it adds its own losses. */
export interface AuxiliaryLossContext {
  targets: HeadTargets;
  /** Valid size of each image in the padded input. */
  imageShapes: readonly ImageShape[];
  /**
   * What `prepareAuxiliary` returned for this step, when the step was prepared (a backend
   * without synchronous readback): the scheme's losses must then read nothing back.
   */
  prepared?: unknown;
}

/**
 * The last layer of a dense head for every anchor b of every location. Every returned tensor
 * is new and owned by the caller.
 */
export interface AnchorFunction<Plan = unknown, Extras extends AnchorExtras = AnchorExtras> {
  readonly numClasses: number;
  readonly numLevels: number;
  /** The value every level of one forward reads (MetaAnchor: the jittered training codes). */
  plan(options: ForwardOptions): Plan;
  apply(input: AnchorLevelInput<Plan>): AnchorLevelOutput<Extras>;
  /**
   * Inference only: the predictions at the level's evaluated anchors, computed at those
   * anchors only (GA's sparse inference), or null when this level is better (or only) run
   * densely by `apply` — the head then calls `apply`. Absent: always dense.
   */
  applyCompact?(input: AnchorLevelInput<Plan>): CompactLevelOutput | null;
  /** Losses the scheme adds to the head's (GA's `loss_loc`, `loss_shape`). */
  auxiliaryLosses?(
    outputs: readonly AnchorLevelOutput<Extras>[],
    context: AuxiliaryLossContext,
  ): LossRecord;
  /**
   * The targets `auxiliaryLosses` would read back, computed with awaited reads (`data()`), for a
   * training step's prepare phase; handed back as `context.prepared`. A scheme whose losses
   * read nothing back need not have it.
   */
  prepareAuxiliary?(
    outputs: readonly AnchorLevelOutput<Extras>[],
    context: AuxiliaryLossContext,
  ): Promise<unknown>;
  /** Frees what `prepareAuxiliary` returned. */
  disposeAuxiliary?(prepared: unknown): void;
  /**
   * Fills, with awaited reads, host caches the forward reads synchronously on first use for
   * these feature-map sizes (GA's square centres): called before a forward on a backend
   * without synchronous readback.
   */
  prepareForward?(featmapSizes: readonly (readonly [number, number])[]): Promise<void>;
  /** Frees tensors it caches (not the parameters, which live in the model's store). */
  dispose?(): void;
}

/** How a head builds its anchor function: the one way every scheme is constructed. */
export type AnchorFunctionFactory<Plan = unknown, Extras extends AnchorExtras = AnchorExtras> = (
  context: AnchorFunctionContext,
) => AnchorFunction<Plan, Extras>;

/**
 * The final class or box layer of a scheme whose anchor differs from location to location
 * (Guided Anchoring): a plain conv θ, or MetaAnchor's θ_b generated from each location's own
 * anchor (`meta-guided`). Returns `[B, H, W, O]`.
 */
export interface AnchorConditionedLayer {
  apply(input: {
    /** The (adapted) feature, `[B, H, W, C]`. */
    feature: tf.Tensor4D;
    level: number;
    /** `[B, H, W, 2]` (log h, log w) of each location's anchor in pixels; carries no gradient. */
    anchorLogSizes: tf.Tensor4D;
  }): tf.Tensor4D;
  /**
   * Inference at N locations only: `columns` `[N, k·k·C]` are their im2col rows (tap-major,
   * then channel, as an HWIO filter flattens), `anchorLogSizes` `[N, 2]` their anchors.
   * Returns `[N, O]`, equal to `apply` at those locations. Absent: the scheme runs densely
   * (e.g. a layer that reads the whole map, MetaAnchor's eq. 6).
   */
  applyRows?(input: {
    columns: tf.Tensor2D;
    level: number;
    anchorLogSizes: tf.Tensor2D;
  }): tf.Tensor2D;
}

/** What an anchor-conditioned layer is built from (its scheme's context, one layer's slice). */
export interface AnchorConditionedLayerContext {
  /** The layer's own scope (`retina_cls`, `rpn_reg`, ...). */
  store: ParameterStore;
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  priorProbability: number | null;
  strides: readonly number[];
}

export type AnchorConditionedLayerFactory = (
  context: AnchorConditionedLayerContext,
) => AnchorConditionedLayer;
