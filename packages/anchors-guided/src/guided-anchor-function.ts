import {
  Conv2d,
  maskedConv2d,
  normal,
  type ParameterStore,
  priorProbabilityBias,
  RandomSampler,
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
  LossRecord,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { detach } from './detach';
import { FeatureAdaption } from './feature-adaption';
import { LocationBranch, ShapeBranch } from './guided-anchor-branches';
import { guidedAnchors, locationMask } from './guided-anchors';
import { type LocationLossOptions, locationLoss } from './location-loss';
import { LOCATION_IGNORE, LOCATION_NEGATIVE, locationTargets } from './location-targets';
import { type ShapeLossOptions, shapeLoss } from './shape-loss';
import { disposeShapeTargets, ShapeTargetBuilder, type ShapeTargetOptions } from './shape-targets';

export interface GuidedAnchorFunctionOptions {
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
  /** Evaluate cls/reg only at kept locations with masked convs at inference. Default true. */
  sparseInference?: boolean;
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

/** GA's tensors for its own losses: per level `[B, H, W, 1]` location logits and `[B, H, W, 2]` (dw, dh). */
export type GuidedExtras = { locLogits: tf.Tensor4D; shapePred: tf.Tensor4D };

interface Adapted {
  adaption: FeatureAdaption;
  layer: AnchorConditionedLayer;
}

/** GA's own final conv: θ at every location, masked at inference. */
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
      apply: ({ feature, mask }) =>
        mask
          ? maskedConv2d(feature, conv.weight as tf.Tensor4D, mask, {
              pad: (kernelSize - 1) / 2,
              ...(conv.bias ? { bias: conv.bias as tf.Tensor1D } : {}),
            })
          : conv.apply(feature),
    };
  };
}

/**
 * Guided Anchoring as a dense head's anchor function: per level a location branch and a shape
 * branch predict one anchor per position; feature adaption (deformable conv driven by the
 * detached shape) feeds the head's final cls/reg layers, which also see each location's
 * anchor (plain convs for GA, generated filters for meta-guided). At inference only locations
 * with p ≥ εL are evaluated, by masked convolutions (any batch size, any backend), and a level
 * with no kept location runs no conv. Strides, the shared tower (one `feature_adaption`), the
 * final kernel, the class prior and the shape sampler's seed come from the head's context.
 * Parameter names follow mmdetection: `conv_loc`, `conv_shape`, `feature_adaption_cls` /
 * `feature_adaption_reg`, and the head's cls / reg names.
 */
export class GuidedAnchorFunction implements AnchorFunction<undefined, GuidedExtras> {
  readonly numClasses: number;
  readonly numLevels: number;
  readonly strides: readonly number[];
  private settings: GuidedAnchorFunctionOptions;
  readonly location: LocationBranch;
  readonly shape: ShapeBranch;
  private readonly cls: Adapted;
  private readonly reg: Adapted;
  private readonly sharedAdaption: boolean;
  private readonly shapeTargetBuilder: ShapeTargetBuilder;

  /** The options it was built with (εL as last set by `setLocationThreshold`). */
  get options(): GuidedAnchorFunctionOptions {
    return this.settings;
  }

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
    this.settings = { ...this.settings, locationThreshold: threshold };
  }

  constructor(context: AnchorFunctionContext, options: GuidedAnchorFunctionOptions = {}) {
    const { store, inChannels, numClasses, strides } = context;
    this.numClasses = numClasses;
    this.numLevels = strides.length;
    this.strides = [...strides];
    this.settings = options;
    this.sharedAdaption = context.sharedTower;
    this.location = new LocationBranch(store.scope('conv_loc'), { inChannels });
    this.shape = new ShapeBranch(store.scope('conv_shape'), { inChannels });
    const makeAdaption = (scope: ParameterStore) =>
      new FeatureAdaption(scope, {
        inChannels,
        outChannels: inChannels,
        deformGroups: options.deformGroups ?? 4,
        weightStd: options.adaptionWeightStd ?? 0.01,
      });
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

  /** `[B, H, W, 2]` (log h, log w) of the decoded anchors: log(σ·s) + std·(dh, dw), detached. */
  private anchorLogSizes(shapePred: tf.Tensor4D, stride: number): tf.Tensor4D {
    return tf.tidy(() => {
      const std = this.options.deltaStd ?? 1;
      const offset = Math.log((this.options.squareScale ?? 8) * stride);
      const [dw, dh] = tf.split(detach(shapePred), 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      return tf.add(tf.mul(tf.concat([dh, dw], 3), std), offset) as tf.Tensor4D;
    });
  }

  apply(input: AnchorLevelInput<undefined>): AnchorLevelOutput<GuidedExtras> {
    const { level, clsFeature, regFeature, training } = input;
    const stride = this.strides[level];
    if (stride === undefined) {
      throw new Error(
        `GuidedAnchorFunction.apply: level ${level} outside the ${this.numLevels} strides`,
      );
    }
    const [batch, height, width] = clsFeature.shape;
    const decode = {
      squareScale: this.options.squareScale ?? 8,
      deltaStd: this.options.deltaStd ?? 1,
    };
    const locLogits = this.location.apply(clsFeature);
    const shapePred = this.shape.apply(regFeature);
    const priors = guidedAnchors(shapePred, stride, {
      ...decode,
      centerOffset: this.options.centerOffset ?? 0,
    });
    const sparse = !training && (this.options.sparseInference ?? true);
    const mask = training ? null : locationMask(locLogits, this.options.locationThreshold ?? 0.01);
    let kept = -1;
    if (mask && sparse) {
      const count = tf.tidy(() => tf.sum(tf.cast(mask, 'int32')));
      kept = count.dataSync()[0] as number;
      count.dispose();
    }
    const { clsScores, boxDeltas } = tf.tidy(() => {
      const numLocations = height * width;
      if (kept === 0) {
        // Nothing passes εL on this level: skip every conv (GA §3.4 sparse inference).
        return {
          clsScores: tf.zeros([batch, numLocations, this.numClasses]) as tf.Tensor3D,
          boxDeltas: tf.zeros([batch, numLocations, 4]) as tf.Tensor3D,
        };
      }
      const clsAdapted = this.cls.adaption.apply(clsFeature, shapePred);
      const regAdapted =
        this.sharedAdaption && clsFeature === regFeature
          ? clsAdapted
          : this.reg.adaption.apply(regFeature, shapePred);
      const headMask = sparse ? mask : null;
      const anchorLogSizes = this.anchorLogSizes(shapePred, stride);
      const cls = this.cls.layer.apply({
        feature: clsAdapted,
        level,
        anchorLogSizes,
        mask: headMask,
      });
      const reg = this.reg.layer.apply({
        feature: regAdapted,
        level,
        anchorLogSizes,
        mask: headMask,
      });
      return {
        clsScores: tf.reshape(cls, [batch, numLocations, this.numClasses]) as tf.Tensor3D,
        boxDeltas: tf.reshape(reg, [batch, numLocations, 4]) as tf.Tensor3D,
      };
    });
    const output: AnchorLevelOutput<GuidedExtras> = {
      clsScores,
      boxDeltas,
      priors,
      extras: { locLogits, shapePred },
    };
    if (mask) {
      output.evaluated = tf.reshape(mask, [batch, height * width]) as tf.Tensor2D;
      mask.dispose();
    }
    return output;
  }

  /** `loss_loc` (GA §3.1, focal) and `loss_shape` (GA eq. 6) over all levels. */
  auxiliaryLosses(
    outputs: readonly AnchorLevelOutput<GuidedExtras>[],
    context: AuxiliaryLossContext,
  ): LossRecord {
    const extras = outputs.map((o, level) => {
      if (!o.extras)
        throw new Error(`GuidedAnchorFunction.auxiliaryLosses: outputs[${level}] has no extras`);
      return o.extras;
    });
    const locLogits = extras.map((e) => e.locLogits);
    const shapePreds = extras.map((e) => e.shapePred);
    const featmapSizes = locLogits.map((l) => [l.shape[1], l.shape[2]] as const);
    const targetOptions = {
      strides: this.strides,
      octaveBaseScale: this.options.octaveBaseScale ?? 8,
      centerRatio: this.options.centerRatio ?? 0.2,
      ignoreRatio: this.options.ignoreRatio ?? 0.5,
      centerOffset: this.options.centerOffset ?? 0,
    };
    let labels = locationTargets(context.targets.gtBoxes, featmapSizes, targetOptions);
    const ignoreBoxes = context.targets.gtIgnoreBoxes;
    if (
      (this.options.locationIgnoreBoxes ?? true) &&
      ignoreBoxes?.some((boxes) => boxes !== undefined && boxes.shape[0] > 0)
    ) {
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
      labels = masked;
    }
    const shapeTargets = this.shapeTargetBuilder.build(
      context.targets.gtBoxes,
      featmapSizes,
      context.targets.gtIgnoreBoxes,
    );
    const lossLoc = locationLoss(locLogits, labels, this.options.locationLoss);
    const lossShape = shapeLoss(shapePreds, shapeTargets, {
      ...this.options.shapeLoss,
      strides: this.strides,
      squareScale: this.options.squareScale ?? 8,
      deltaStd: this.options.deltaStd ?? 1,
    });
    tf.dispose(labels);
    disposeShapeTargets(shapeTargets);
    return { loss_loc: lossLoc, loss_shape: lossShape };
  }
}

/** The Guided Anchoring scheme as a head's anchor-function factory. */
export function guidedAnchorFunction(
  options: GuidedAnchorFunctionOptions = {},
): AnchorFunctionFactory<undefined, GuidedExtras> {
  return (context) => new GuidedAnchorFunction(context, options);
}
