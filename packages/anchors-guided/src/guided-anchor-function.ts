import {
  Conv2d,
  hasSyncReadback,
  normal,
  type ParameterStore,
  priorProbabilityBias,
  RandomSampler,
  type Size2D,
  zeros,
} from '@det/core';
import type {
  AnchorConditionedLayer,
  AnchorConditionedLayerFactory,
  AnchorFunction,
  AnchorFunctionContext,
  AnchorFunctionFactory,
  AnchorLevelInput,
  AnchorLevelOutput,
  AuxiliaryLossContext,
  CompactLevelOutput,
  LossRecord,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { detach } from './detach';
import { FeatureAdaption } from './feature-adaption';
import { LocationBranch, ShapeBranch } from './guided-anchor-branches';
import {
  guidedAnchors,
  guidedAnchorsAt,
  locationMask,
  prepareSquareCentres,
} from './guided-anchors';
import { type LocationLossOptions, locationLoss } from './location-loss';
import { LOCATION_IGNORE, LOCATION_NEGATIVE, locationTargets } from './location-targets';
import { type ShapeLossOptions, shapeLoss } from './shape-loss';
import {
  disposeShapeTargets,
  ShapeTargetBuilder,
  type ShapeTargetOptions,
  type ShapeTargets,
} from './shape-targets';

/**
 * Which of Guided Anchoring's modules run (GA §4.3, Table 4's L. / S. / F.A. ablation). All
 * true is GA; the others are the paper's ablation rows:
 * - `location: false`: no location branch (`conv_loc`), no `loss_loc`; every location is
 *   evaluated (no εL mask, no sparse inference);
 * - `shape: false`: no shape branch (`conv_shape`), no `loss_shape`; every anchor has the fixed
 *   base shape (dw, dh) = 0, the σ·s square (GA-RPN 8·s, GA-RetinaNet 4·s);
 * - `featureAdaption: false`: no deformable conv; the final cls / reg layers read the feature
 *   as it is. Feature adaption needs the shape branch (its offsets come from the predicted shape).
 */
export interface GuidedAnchorComponents {
  /** Default true. */
  location?: boolean;
  /** Default true. */
  shape?: boolean;
  /** Default true; true needs `shape`. */
  featureAdaption?: boolean;
}

export interface GuidedAnchorFunctionOptions {
  /** GA's modules on / off (Table 4's ablation); default all on. */
  components?: GuidedAnchorComponents;
  /** σ of `w = σ·s·e^dw` (GA-RPN 8, GA-RetinaNet 4). Default 8. */
  squareScale?: number;
  /** Std multiplying (dw, dh) (mmdetection `anchor_coder`: GA-RPN 0.14, GA-RetinaNet 1). Default 1. */
  deltaStd?: number;
  /** Base scale of the level assignment and approximating anchors (`octave_base_scale`). Default 8. */
  octaveBaseScale?: number;
  /** Approximating scales per octave. Default 3. */
  scalesPerOctave?: number;
  /**
   * Std of the feature adaption's deformable-conv init (mmdetection 0.01). Behind a 0.01 cls/reg
   * conv it scales the towers' gradient by another ~0.01, which a from-scratch backbone feels.
   * Default 0.01.
   */
  adaptionWeightStd?: number;
  /** Deformable groups of the feature adaption. Default 4. */
  deformGroups?: number;
  /** εL: inference keeps locations with p ≥ this (mmdetection `loc_filter_thr`). Default 0.01. */
  locationThreshold?: number;
  /**
   * Inference path (GA §3.4). `'always'`: after the location branch, everything per location
   * (shape, feature adaption, the final cls / reg layers, anchors) runs at the kept locations
   * (p ≥ εL) only, as compact rows; a level with none kept costs nothing more. `'never'`: every
   * location is computed and the kept ones selected afterwards (the reference). `'auto'`: per
   * level, sparse when the kept fraction is at most `sparseMaxKept`. Both paths give the same
   * predictions at the kept locations. Default `'auto'`.
   */
  sparseInference?: SparseInferenceMode;
  /**
   * The largest kept fraction at which `'auto'` runs a level sparsely (1: always). Default: the
   * backend's entry of `sparseMaxKeptByBackend`.
   */
  sparseMaxKept?: number;
  /**
   * Anchor-centre convention: location i is centred at (i + centerOffset)·s for the guided
   * anchors, the shape targets' squares and approximating anchors, and the location targets'
   * cells. 0: i·s (mmdetection v2); 0.5: (i + ½)·s. Default 0.
   */
  centerOffset?: number;
  /** Location-target regions σ1 / σ2 (GA §3.4). Defaults 0.2 / 0.5. */
  centerRatio?: number;
  ignoreRatio?: number;
  /** Location loss (focal) options, including the named normaliser. */
  locationLoss?: LocationLossOptions;
  /**
   * Ignore boxes (COCO crowd, MetaAnchor's dropped objects) in `loss_loc`: a cell that an
   * ignore box would make positive or ignored (its centre / ignore regions, as for a gt) and
   * that is negative for every gt is ignored, so an ignored object is learnt neither as an
   * object nor as background. mmdetection's `ga_loc_target` takes no ignore boxes (false).
   * Default true.
   */
  locationIgnoreBoxes?: boolean;
  /** Shape loss options (β, normaliser, weight). */
  shapeLoss?: Omit<ShapeLossOptions, 'strides' | 'squareScale' | 'deltaStd'>;
  /** Shape-target assigner / sampler / approximating ratios (default sampler seeded by the head). */
  shapeTargets?: Pick<ShapeTargetOptions, 'assigner' | 'sampler' | 'ratios'>;
  /**
   * The final cls / reg layers, fed each location's predicted anchor: default a plain conv
   * (GA); `metaAnchorLayer(...)` from `@det/anchors-meta` generates them per location
   * (`meta-guided`).
   */
  outputLayer?: AnchorConditionedLayerFactory;
}

/** How Guided Anchoring's inference chooses between the sparse and the dense path. */
export type SparseInferenceMode = 'auto' | 'always' | 'never';

/**
 * Per backend, the largest kept fraction at which `sparseInference: 'auto'` runs a level
 * sparsely. wasm: measured by `@det/detectors`' `bench/sparse-inference.mjs` on trained tiny
 * GA-RPN / GA-RetinaNet (see this package's README): with the feature adaption in the dense
 * deformable conv's own wasm module at the kept positions, sparse wins clearly at ≤ 29 % kept
 * (GA-RPN's head after the towers 3.5× at 20 %, GA-RetinaNet 1.1× at 29 %, 1.8× at 12 %), still
 * at 80 % (1.18×, GA-RPN with BatchNorm) and is within noise of dense at 87–100 %, so 0.8. cpu samples the kept rows with the host loops
 * (the module only runs on the wasm backend), which lost 2× to the dense conv on dense levels
 * before, so 0.1. Other backends (webgl, webgpu: tensor-op sampling and a mask readback that
 * stalls the GPU) are not measured: `default` 0.5 keeps them dense where at least half the
 * locations survive.
 */
export const sparseMaxKeptByBackend: Readonly<Record<string, number>> = {
  wasm: 0.8,
  cpu: 0.1,
  default: 0.5,
};

/** The `sparseMaxKeptByBackend` entry of `backend` (default the active one). */
export function sparseMaxKeptFor(backend: string = tf.getBackend()): number {
  return sparseMaxKeptByBackend[backend] ?? (sparseMaxKeptByBackend.default as number);
}

/**
 * GA's tensors for its own losses: per level `[B, H, W, 1]` location logits and `[B, H, W, 2]`
 * (dw, dh); each absent when its branch is off (`components`).
 */
export type GuidedExtras = { locLogits?: tf.Tensor4D; shapePred?: tf.Tensor4D };

interface Adapted {
  /** Null without feature adaption (`components.featureAdaption: false`). */
  adaption: FeatureAdaption | null;
  layer: AnchorConditionedLayer;
}

/** `components` with its defaults, checked: feature adaption needs the shape branch. */
export function resolveComponents(
  components: GuidedAnchorComponents = {},
): Required<GuidedAnchorComponents> {
  const resolved = {
    location: components.location ?? true,
    shape: components.shape ?? true,
    featureAdaption: components.featureAdaption ?? true,
  };
  for (const [key, value] of Object.entries(components)) {
    if (!(key in resolved)) {
      throw new Error(
        `GuidedAnchorFunction: components.${key} is not a module (location, shape, featureAdaption)`,
      );
    }
    if (value !== undefined && typeof value !== 'boolean') {
      throw new Error(
        `GuidedAnchorFunction: components.${key} must be a boolean, got ${JSON.stringify(value)}`,
      );
    }
  }
  if (resolved.featureAdaption && !resolved.shape) {
    throw new Error(
      'GuidedAnchorFunction: components.featureAdaption needs components.shape (the adaption offsets come from the predicted shape); set featureAdaption: false too',
    );
  }
  return resolved;
}

/** GA's own final conv: θ at every location, or at the im2col rows of the kept ones. */
export function plainConvLayer(): AnchorConditionedLayerFactory {
  return (context) => {
    const { kernelSize, priorProbability } = context;
    const conv = new Conv2d(context.store, {
      inChannels: context.inChannels,
      outChannels: context.outChannels,
      kernelSize,
      padding: (kernelSize - 1) / 2,
      weightInit: normal({ std: 0.01 }),
      // mmdetection `normal_init(std=0.01)`: bias 0 unless a prior probability is given.
      biasInit: priorProbability === null ? zeros : priorProbabilityBias(priorProbability),
    });
    return {
      apply: ({ feature }) => conv.apply(feature),
      applyRows: ({ columns }) =>
        tf.tidy(() => {
          const filter = tf.reshape(conv.weight, [columns.shape[1], context.outChannels]);
          const out = tf.matMul(columns, filter as tf.Tensor2D);
          return (conv.bias ? tf.add(out, conv.bias) : out) as tf.Tensor2D;
        }),
    };
  };
}

/**
 * Guided Anchoring as a dense head's anchor function: per level a location branch and a shape
 * branch predict one anchor per position; feature adaption (deformable conv driven by the
 * detached shape) feeds the head's final cls/reg layers, which also see each location's
 * anchor (plain convs for GA, generated filters for meta-guided). At inference only locations
 * with p ≥ εL are evaluated: `applyCompact` runs everything after the location branch at those
 * locations only and returns compact rows (any batch size, any backend; a level with no kept
 * location runs nothing after its location conv), `apply` computes every location and marks
 * the kept ones `evaluated` (`sparseInference` chooses). Strides, the shared tower (one
 * `feature_adaption`), the final kernel, the class prior and the shape sampler's seed come
 * from the head's context.
 * Parameter names follow mmdetection: `conv_loc`, `conv_shape`, `feature_adaption_cls` /
 * `feature_adaption_reg`, and the head's cls / reg names.
 */
export class GuidedAnchorFunction implements AnchorFunction<undefined, GuidedExtras> {
  readonly numClasses: number;
  readonly numLevels: number;
  readonly strides: readonly number[];
  /**
   * The options it was built with (εL as last set by `setLocationThreshold`). A field, not a
   * getter: checkpoints name the shape sampler's random state by its property path through it.
   */
  options: GuidedAnchorFunctionOptions;
  /** The modules that run (`options.components` with defaults). */
  readonly components: Readonly<Required<GuidedAnchorComponents>>;
  /** Null with `components.location: false`. */
  readonly location: LocationBranch | null;
  /** Null with `components.shape: false`. */
  readonly shape: ShapeBranch | null;
  private readonly cls: Adapted;
  private readonly reg: Adapted;
  private readonly sharedAdaption: boolean;
  private readonly kernelSize: number;
  private readonly shapeTargetBuilder: ShapeTargetBuilder;

  /**
   * Changes εL for later inference passes: locations with p ≥ `threshold` are evaluated (the
   * weights stay; e.g. a slider in apps/playground). `threshold` in [0, 1).
   */
  setLocationThreshold(threshold: number): void {
    if (!(Number.isFinite(threshold) && threshold >= 0 && threshold < 1)) {
      throw new Error(
        `GuidedAnchorFunction.setLocationThreshold: εL must be in [0, 1), got ${threshold}`,
      );
    }
    this.options = { ...this.options, locationThreshold: threshold };
  }

  constructor(context: AnchorFunctionContext, options: GuidedAnchorFunctionOptions = {}) {
    const { store, inChannels, numClasses, strides } = context;
    this.numClasses = numClasses;
    this.numLevels = strides.length;
    this.strides = [...strides];
    this.options = options;
    this.sharedAdaption = context.sharedTower;
    this.kernelSize = context.kernelSize;
    this.components = resolveComponents(options.components);
    this.location = this.components.location
      ? new LocationBranch(store.scope('conv_loc'), { inChannels })
      : null;
    this.shape = this.components.shape
      ? new ShapeBranch(store.scope('conv_shape'), { inChannels })
      : null;
    const makeAdaption = (scope: ParameterStore) =>
      this.components.featureAdaption
        ? new FeatureAdaption(scope, {
            inChannels,
            outChannels: inChannels,
            deformGroups: options.deformGroups ?? 4,
            weightStd: options.adaptionWeightStd ?? 0.01,
          })
        : null;
    const clsAdaption = makeAdaption(
      store.scope(this.sharedAdaption ? 'feature_adaption' : 'feature_adaption_cls'),
    );
    const regAdaption = this.sharedAdaption
      ? clsAdaption
      : makeAdaption(store.scope('feature_adaption_reg'));
    const outputLayer = options.outputLayer ?? plainConvLayer();
    const layer = (name: string, outChannels: number, priorProbability: number | null) =>
      outputLayer({
        store: store.scope(name),
        inChannels,
        outChannels,
        kernelSize: context.kernelSize,
        priorProbability,
        strides,
      });
    this.cls = {
      adaption: clsAdaption,
      layer: layer(context.clsName, numClasses, context.priorProbability),
    };
    this.reg = { adaption: regAdaption, layer: layer(context.regName, 4, null) };
    this.shapeTargetBuilder = new ShapeTargetBuilder({
      strides,
      octaveBaseScale: options.octaveBaseScale ?? 8,
      scalesPerOctave: options.scalesPerOctave ?? 3,
      squareScale: options.squareScale ?? 8,
      centerOffset: options.centerOffset ?? 0,
      ...options.shapeTargets,
      sampler:
        options.shapeTargets?.sampler ??
        new RandomSampler({ num: 256, posFraction: 0.5, seed: context.seed }),
    });
  }

  plan(): undefined {
    return undefined;
  }

  /**
   * (log h, log w) of the decoded anchors, `[..., 2]` from (dw, dh) `[..., 2]`:
   * log(σ·s) + std·(dh, dw), detached.
   */
  private anchorLogSizes<T extends tf.Tensor>(shapePred: T, stride: number): T {
    return tf.tidy(() => {
      const std = this.options.deltaStd ?? 1;
      const offset = Math.log((this.options.squareScale ?? 8) * stride);
      const [dw, dh] = tf.split(detach(shapePred), 2, -1) as [T, T];
      return tf.add(tf.mul(tf.concat([dh, dw], -1), std), offset) as T;
    });
  }

  private strideOf(level: number, where: string): number {
    const stride = this.strides[level];
    if (stride === undefined) {
      throw new Error(
        `GuidedAnchorFunction.${where}: level ${level} outside the ${this.numLevels} strides`,
      );
    }
    return stride;
  }

  private get decodeOptions() {
    return {
      squareScale: this.options.squareScale ?? 8,
      deltaStd: this.options.deltaStd ?? 1,
      centerOffset: this.options.centerOffset ?? 0,
    };
  }

  /**
   * Every location of the level (training, and the dense inference path): at inference the
   * kept locations (p ≥ εL) are marked `evaluated`.
   */
  apply(input: AnchorLevelInput<undefined>): AnchorLevelOutput<GuidedExtras> {
    const { level, clsFeature, regFeature, training } = input;
    const stride = this.strideOf(level, 'apply');
    const [batch, height, width] = clsFeature.shape;
    const locLogits = this.location?.apply(clsFeature);
    // Without the shape branch every anchor has the base shape: (dw, dh) = 0.
    const shapePred = this.shape
      ? this.shape.apply(regFeature)
      : (tf.zeros([batch, height, width, 2]) as tf.Tensor4D);
    const priors = guidedAnchors(shapePred, stride, this.decodeOptions);
    const { clsScores, boxDeltas } = tf.tidy(() => {
      const numLocations = height * width;
      const clsAdapted = this.cls.adaption?.apply(clsFeature, shapePred) ?? clsFeature;
      const regAdapted =
        this.sharedAdaption && clsFeature === regFeature
          ? clsAdapted
          : (this.reg.adaption?.apply(regFeature, shapePred) ?? regFeature);
      const sizes = lazyTensor(() => this.anchorLogSizes(shapePred, stride));
      try {
        const input = (feature: tf.Tensor4D) => ({
          feature,
          level,
          get anchorLogSizes() {
            return sizes.get();
          },
        });
        const cls = this.cls.layer.apply(input(clsAdapted));
        const reg = this.reg.layer.apply(input(regAdapted));
        return {
          clsScores: tf.reshape(cls, [batch, numLocations, this.numClasses]) as tf.Tensor3D,
          boxDeltas: tf.reshape(reg, [batch, numLocations, 4]) as tf.Tensor3D,
        };
      } finally {
        sizes.dispose();
      }
    });
    const extras: GuidedExtras = {};
    if (locLogits) extras.locLogits = locLogits;
    if (this.shape) extras.shapePred = shapePred;
    else shapePred.dispose();
    const output: AnchorLevelOutput<GuidedExtras> = { clsScores, boxDeltas, priors, extras };
    // Without the location branch every location is evaluated (no mask).
    if (!training && locLogits) {
      output.evaluated = tf.tidy(
        () =>
          tf.reshape(locationMask(locLogits, this.options.locationThreshold ?? 0.01), [
            batch,
            height * width,
          ]) as tf.Tensor2D,
      );
    }
    return output;
  }

  /**
   * Sparse inference (GA §3.4): the location branch and its mask p ≥ εL are the only work on
   * the dense grid; the shape branch, the feature adaption (`maskedDeformConv2d`), the final
   * cls / reg layers (im2col rows of the kept locations, one matMul each) and the anchors run
   * at the kept locations only — a k×k final layer also needs the adapted feature at the
   * kept locations' k×k neighbours, so the adaption runs on that support. Null (run `apply`)
   * in training, with `sparseInference: 'never'`, when a final layer has no `applyRows`, or in
   * `'auto'` mode when the level keeps more than `sparseMaxKept` of its locations.
   * Reads the mask back synchronously (one readback per level): `predict` is synchronous, and
   * the compact rows' count decides every shape after it.
   */
  applyCompact(input: AnchorLevelInput<undefined>): CompactLevelOutput | null {
    const mode = this.options.sparseInference ?? 'auto';
    // Without synchronous readback (webgpu) the kept count cannot size the compact rows inside
    // a synchronous predict: every location is evaluated instead (`apply` marks the kept ones).
    if (input.training || mode === 'never' || !hasSyncReadback(tf.getBackend())) return null;
    if (!this.cls.layer.applyRows || !this.reg.layer.applyRows) return null;
    // Without the location branch every location is kept: the dense path is the same work.
    if (!this.location) return null;
    const { level, clsFeature, regFeature } = input;
    const stride = this.strideOf(level, 'applyCompact');
    const [batch, height, width, channels] = clsFeature.shape;
    const grid = height * width;
    const location = this.location;
    const flags = tf.tidy(() =>
      locationMask(location.apply(clsFeature), this.options.locationThreshold ?? 0.01),
    );
    const values = flags.dataSync();
    flags.dispose();
    const geometry = sparseGeometry(values, batch, height, width, this.kernelSize);
    const { positions, rowsPerImage } = geometry;
    const count = positions.length;
    const maxKept = this.options.sparseMaxKept ?? sparseMaxKeptFor();
    if (mode === 'auto' && count > maxKept * batch * grid) return null;
    if (count === 0) {
      return tf.tidy(() => ({
        clsScores: tf.zeros([0, this.numClasses]) as tf.Tensor2D,
        boxDeltas: tf.zeros([0, 4]) as tf.Tensor2D,
        priors: tf.zeros([0, 4]) as tf.Tensor2D,
        rowsPerImage,
      }));
    }
    const cells = new Int32Array(count);
    for (let n = 0; n < count; n++) cells[n] = positions[n]! % grid;
    return tf.tidy(() => {
      const { support, columnIndices, keptInSupport } = geometry;
      const rowsAt = (feature: tf.Tensor4D) =>
        tf.gatherND(
          tf.reshape(feature, [batch * grid, channels]),
          tf.tensor2d(support, [support.length, 1], 'int32'),
        ) as tf.Tensor2D;
      const shapeSupport = this.shape
        ? (tf.add(
            tf.matMul(
              rowsAt(regFeature),
              tf.reshape(this.shape.conv.weight, [channels, 2]) as tf.Tensor2D,
            ),
            this.shape.conv.bias!,
          ) as tf.Tensor2D)
        : (tf.zeros([support.length, 2]) as tf.Tensor2D);
      const shapeKept = keptInSupport
        ? (tf.gatherND(
            shapeSupport,
            tf.tensor2d(keptInSupport, [count, 1], 'int32'),
          ) as tf.Tensor2D)
        : shapeSupport;
      const adaptedAt = (adaption: FeatureAdaption | null, feature: tf.Tensor4D) =>
        adaption ? adaption.applyAt(feature, shapeSupport, support) : rowsAt(feature);
      const clsAdapted = adaptedAt(this.cls.adaption, clsFeature);
      const regAdapted =
        this.sharedAdaption && clsFeature === regFeature
          ? clsAdapted
          : adaptedAt(this.reg.adaption, regFeature);
      const columnsOf = (rows: tf.Tensor2D): tf.Tensor2D => {
        if (!columnIndices) return rows;
        const padded = tf.concat([rows, tf.zeros([1, rows.shape[1]])]);
        const taps = this.kernelSize * this.kernelSize;
        return tf.reshape(
          tf.gatherND(padded, tf.tensor2d(columnIndices, [count * taps, 1], 'int32')),
          [count, taps * rows.shape[1]],
        ) as tf.Tensor2D;
      };
      const sizes = lazyTensor(() => this.anchorLogSizes(shapeKept, stride));
      const input = (columns: tf.Tensor2D) => ({
        columns,
        level,
        get anchorLogSizes() {
          return sizes.get();
        },
      });
      const clsColumns = columnsOf(clsAdapted);
      let cls: tf.Tensor2D;
      let reg: tf.Tensor2D;
      try {
        cls = this.cls.layer.applyRows!(input(clsColumns));
        reg = this.reg.layer.applyRows!(
          input(regAdapted === clsAdapted ? clsColumns : columnsOf(regAdapted)),
        );
      } finally {
        sizes.dispose();
      }
      return {
        clsScores: cls,
        boxDeltas: reg,
        priors: guidedAnchorsAt(shapeKept, cells, [height, width], stride, this.decodeOptions),
        rowsPerImage,
      };
    });
  }

  /**
   * `loss_loc` (GA §3.1, focal) and `loss_shape` (GA eq. 6) over all levels; each only when
   * its branch is on (`components`).
   */
  auxiliaryLosses(
    outputs: readonly AnchorLevelOutput<GuidedExtras>[],
    context: AuxiliaryLossContext,
  ): LossRecord {
    const extra = <K extends keyof GuidedExtras>(key: K) =>
      outputs.map((o, level) => {
        const tensor = o.extras?.[key];
        if (!tensor) {
          throw new Error(`GuidedAnchorFunction.auxiliaryLosses: outputs[${level}] has no ${key}`);
        }
        return tensor as tf.Tensor4D;
      });
    const losses: LossRecord = {};
    if (!this.location && !this.shape) return losses;
    const prepared = context.prepared as GuidedTargets | undefined;
    const targets = prepared ?? this.targets(context, featmapSizesOf(outputs));
    if (targets.labels) {
      losses.loss_loc = locationLoss(extra('locLogits'), targets.labels, this.options.locationLoss);
    }
    if (targets.shapeTargets) {
      losses.loss_shape = shapeLoss(extra('shapePred'), targets.shapeTargets, {
        ...this.options.shapeLoss,
        strides: this.strides,
        squareScale: this.options.squareScale ?? 8,
        deltaStd: this.options.deltaStd ?? 1,
      });
    }
    if (!prepared) this.disposeAuxiliary(targets);
    return losses;
  }

  /**
   * The location labels and shape targets `auxiliaryLosses` needs, with awaited reads: the
   * boxes are read with `data()` first (tfjs-backend-webgpu then keeps their values on the
   * host for the host loops of the targets), the shape sampler runs its `sampleSteps`.
   */
  async prepareAuxiliary(
    outputs: readonly AnchorLevelOutput<GuidedExtras>[],
    context: AuxiliaryLossContext,
  ): Promise<GuidedTargets> {
    if (!this.location && !this.shape) return {};
    const { gtBoxes, gtIgnoreBoxes } = context.targets;
    await Promise.all(
      [...gtBoxes, ...(gtIgnoreBoxes ?? [])].flatMap((boxes) => (boxes ? [boxes.data()] : [])),
    );
    const featmapSizes = featmapSizesOf(outputs);
    const labels = this.location ? this.locationLabels(context, featmapSizes) : undefined;
    if (!this.shape) return labels ? { labels } : {};
    try {
      const shapeTargets = await this.shapeTargetBuilder.buildAsync(
        gtBoxes,
        featmapSizes,
        gtIgnoreBoxes,
      );
      return labels ? { labels, shapeTargets } : { shapeTargets };
    } catch (error) {
      if (labels) tf.dispose(labels);
      throw error;
    }
  }

  disposeAuxiliary(prepared: unknown): void {
    const targets = prepared as GuidedTargets;
    if (targets.labels) tf.dispose(targets.labels);
    if (targets.shapeTargets) disposeShapeTargets(targets.shapeTargets);
  }

  /** Fills the square-centre cache of these sizes with awaited reads (see `prepareSquareCentres`). */
  prepareForward(featmapSizes: readonly (readonly [number, number])[]): Promise<void> {
    return prepareSquareCentres(
      featmapSizes as Size2D[],
      this.strides,
      this.options.squareScale ?? 8,
      this.options.centerOffset ?? 0,
    );
  }

  private targets(context: AuxiliaryLossContext, featmapSizes: Size2D[]): GuidedTargets {
    const targets: GuidedTargets = {};
    if (this.location) targets.labels = this.locationLabels(context, featmapSizes);
    if (this.shape) {
      targets.shapeTargets = this.shapeTargetBuilder.build(
        context.targets.gtBoxes,
        featmapSizes,
        context.targets.gtIgnoreBoxes,
      );
    }
    return targets;
  }

  /** GA §3.1 location labels per level; objects inside ignore boxes are ignored, not negative. */
  private locationLabels(context: AuxiliaryLossContext, featmapSizes: Size2D[]): tf.Tensor3D[] {
    const targetOptions = {
      strides: this.strides,
      octaveBaseScale: this.options.octaveBaseScale ?? 8,
      centerRatio: this.options.centerRatio ?? 0.2,
      ignoreRatio: this.options.ignoreRatio ?? 0.5,
      centerOffset: this.options.centerOffset ?? 0,
    };
    const labels = locationTargets(context.targets.gtBoxes, featmapSizes, targetOptions);
    const ignoreBoxes = context.targets.gtIgnoreBoxes;
    if (
      !(this.options.locationIgnoreBoxes ?? true) ||
      !ignoreBoxes?.some((boxes) => boxes !== undefined && boxes.shape[0] > 0)
    ) {
      return labels;
    }
    const empty = tf.zeros([0, 4]) as tf.Tensor2D;
    const covered = locationTargets(
      context.targets.gtBoxes.map((_, image) => ignoreBoxes[image] ?? empty),
      featmapSizes,
      targetOptions,
    );
    const masked = labels.map((level, index) =>
      tf.tidy(
        () =>
          tf.where(
            tf.logicalAnd(
              tf.equal(level, LOCATION_NEGATIVE),
              tf.notEqual(covered[index]!, LOCATION_NEGATIVE),
            ),
            tf.fill(level.shape, LOCATION_IGNORE, 'int32'),
            level,
          ) as tf.Tensor3D,
      ),
    );
    tf.dispose([...labels, ...covered, empty]);
    return masked;
  }
}

/**
 * GA's targets of one batch: location labels per level and the shape branch's targets (each
 * only when its branch is on).
 */
interface GuidedTargets {
  labels?: tf.Tensor3D[];
  shapeTargets?: ShapeTargets;
}

function featmapSizesOf(outputs: readonly AnchorLevelOutput<GuidedExtras>[]): Size2D[] {
  return outputs.map((o, level) => {
    const map = o.extras?.locLogits ?? o.extras?.shapePred;
    if (!map) throw new Error(`GuidedAnchorFunction: outputs[${level}] has no extras`);
    return [map.shape[1], map.shape[2]] as Size2D;
  });
}

/** The Guided Anchoring scheme as a head's anchor-function factory. */
export function guidedAnchorFunction(
  options: GuidedAnchorFunctionOptions = {},
): AnchorFunctionFactory<undefined, GuidedExtras> {
  return (context) => new GuidedAnchorFunction(context, options);
}

/**
 * A tensor made on its first `get` only and kept (outside any tidy scope) until `dispose`: the
 * anchors' log sizes, which a plain final conv never reads (~0.7 ms of small kernels per level
 * on wasm) and MetaAnchor's generated filters read twice (cls and reg).
 */
function lazyTensor<T extends tf.Tensor>(make: () => T): { get: () => T; dispose: () => void } {
  let value: T | undefined;
  return {
    get: () => {
      value ??= tf.keep(make());
      return value;
    },
    dispose: () => value?.dispose(),
  };
}

/**
 * Host index arithmetic of the sparse path on one level, from the mask `values` `[B·H·W]`:
 * the kept flat positions and their count per image; for a k×k final layer (k > 1) also the
 * support (kept positions and their k×k neighbours inside the image, ascending), each kept
 * position's row in it, and the im2col row indices of the kept positions into the support's
 * rows followed by one zero row (index = support size) for taps in the zero padding.
 */
export function sparseGeometry(
  values: ArrayLike<number>,
  batch: number,
  height: number,
  width: number,
  kernelSize: number,
): {
  positions: Int32Array;
  rowsPerImage: number[];
  support: Int32Array;
  keptInSupport: Int32Array | null;
  columnIndices: Int32Array | null;
} {
  const grid = height * width;
  if (values.length !== batch * grid) {
    throw new Error(
      `sparseGeometry: mask has ${values.length} values, expected B·H·W = ${batch * grid}`,
    );
  }
  const rowsPerImage = new Array<number>(batch).fill(0);
  let count = 0;
  for (let p = 0; p < values.length; p++) if (values[p]) count++;
  const positions = new Int32Array(count);
  for (let p = 0, n = 0; p < values.length; p++) {
    if (!values[p]) continue;
    positions[n++] = p;
    rowsPerImage[Math.floor(p / grid)]! += 1;
  }
  if (kernelSize === 1 || count === 0) {
    return {
      positions,
      rowsPerImage,
      support: positions,
      keptInSupport: null,
      columnIndices: null,
    };
  }
  const pad = (kernelSize - 1) / 2;
  // slot[p]: the support row of position p, or -1.
  const slot = new Int32Array(values.length).fill(-1);
  for (const p of positions) {
    const b = Math.floor(p / grid);
    const y = Math.floor((p - b * grid) / width);
    const x = p - b * grid - y * width;
    for (let yy = Math.max(0, y - pad); yy <= Math.min(height - 1, y + pad); yy++) {
      for (let xx = Math.max(0, x - pad); xx <= Math.min(width - 1, x + pad); xx++) {
        slot[b * grid + yy * width + xx] = 0;
      }
    }
  }
  let supportSize = 0;
  for (let p = 0; p < slot.length; p++) if (slot[p] === 0) supportSize++;
  const support = new Int32Array(supportSize);
  for (let p = 0, m = 0; p < slot.length; p++) {
    if (slot[p] !== 0) continue;
    support[m] = p;
    slot[p] = m++;
  }
  const taps = kernelSize * kernelSize;
  const keptInSupport = new Int32Array(count);
  const columnIndices = new Int32Array(count * taps).fill(supportSize);
  positions.forEach((p, n) => {
    keptInSupport[n] = slot[p]!;
    const b = Math.floor(p / grid);
    const y = Math.floor((p - b * grid) / width);
    const x = p - b * grid - y * width;
    for (let i = 0; i < kernelSize; i++) {
      const yy = y + i - pad;
      if (yy < 0 || yy >= height) continue;
      for (let j = 0; j < kernelSize; j++) {
        const xx = x + j - pad;
        if (xx < 0 || xx >= width) continue;
        columnIndices[n * taps + i * kernelSize + j] = slot[b * grid + yy * width + xx]!;
      }
    }
  });
  return { positions, rowsPerImage, support, keptInSupport, columnIndices };
}
