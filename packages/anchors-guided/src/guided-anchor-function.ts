import {
  Conv2d,
  maskedConv2d,
  normal,
  type ParameterStore,
  priorProbabilityBias,
  zeros,
} from '@det/core';
import type {
  AnchorFunction,
  AnchorFunctionContext,
  AnchorFunctionFactory,
  AnchorLevelInput,
  AnchorLevelOutput,
  AuxiliaryLossContext,
  LossRecord,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { FeatureAdaption } from './feature-adaption';
import { LocationBranch, ShapeBranch } from './guided-anchor-branches';
import { guidedAnchors, locationMask } from './guided-anchors';
import { type LocationLossOptions, locationLoss } from './location-loss';
import { locationTargets } from './location-targets';
import { type ShapeLossOptions, shapeLoss } from './shape-loss';
import { disposeShapeTargets, ShapeTargetBuilder, type ShapeTargetOptions } from './shape-targets';

export interface GuidedAnchorFunctionOptions {
  /** Stride of each level, finest first ([4, 8, 16, 32, 64] GA-RPN; [8, ..., 128] GA-RetinaNet). */
  strides: readonly number[];
  /** σ of `w = σ·s·e^dw` (GA-RPN 8, GA-RetinaNet 4). Default 8. */
  squareScale?: number;
  /** Std multiplying (dw, dh) (mmdetection `anchor_coder` 0.14; the paper's 1). Default 1. */
  deltaStd?: number;
  /** Base scale of the level assignment and approximating anchors (`octave_base_scale`). Default 8. */
  octaveBaseScale?: number;
  /** Approximating scales per octave. Default 3. */
  scalesPerOctave?: number;
  /**
   * Initial probability encoded in the cls conv's bias (RetinaNet's prior, for focal loss), or
   * `null` for a zero bias: mmdetection's `GARPNHead` keeps `normal_init(conv_cls, std=0.01)`
   * with bias 0 for its sampled sigmoid cross-entropy; a 0.01 prior there starts every sampled
   * negative at loss ≈ 0 and stalls the objectness. Default 0.01 (GA-RetinaNet).
   */
  clsPriorProbability?: number | null;
  /** Kernel of the final cls/reg convs (GA-RetinaNet 3, GA-RPN 1). Default 3. */
  headKernelSize?: number;
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
  /** Shape loss options (β, normaliser, weight). */
  shapeLoss?: Omit<ShapeLossOptions, 'strides' | 'squareScale' | 'deltaStd'>;
  /** Shape-target assigner / sampler (defaults GA-RPN's). */
  shapeTargets?: Pick<ShapeTargetOptions, 'assigner' | 'sampler' | 'ratios'>;
}

interface Adapted {
  adaption: FeatureAdaption;
  conv: Conv2d;
}

/**
 * Guided Anchoring as a dense head's anchor function: per level a location branch and a shape
 * branch predict one anchor per position; feature adaption (deformable conv driven by the
 * detached shape) feeds the head's final cls/reg convs. At inference only locations with
 * p ≥ εL are evaluated, by masked convolutions (any batch size, any backend), and a level with
 * no kept location runs no conv. `extras` carry `locLogits` and `shapePred` for
 * `auxiliaryLosses` (`loss_loc`, `loss_shape`). Parameter names follow mmdetection:
 * `conv_loc`, `conv_shape`, `feature_adaption_cls` / `feature_adaption_reg` (one
 * `feature_adaption` when the head has a single tower), and the head's cls / reg names.
 */
export class GuidedAnchorFunction implements AnchorFunction {
  readonly numClasses: number;
  readonly numLevels: number;
  readonly options: GuidedAnchorFunctionOptions;
  readonly location: LocationBranch;
  readonly shape: ShapeBranch;
  private readonly cls: Adapted;
  private readonly reg: Adapted;
  private readonly sharedAdaption: boolean;
  private readonly shapeTargetBuilder: ShapeTargetBuilder;

  constructor(
    context: AnchorFunctionContext,
    options: GuidedAnchorFunctionOptions & { sharedTower?: boolean },
  ) {
    const { store, inChannels, numClasses } = context;
    this.numClasses = numClasses;
    this.numLevels = options.strides.length;
    this.options = options;
    this.sharedAdaption = options.sharedTower ?? false;
    this.location = new LocationBranch(store.scope('conv_loc'), { inChannels });
    this.shape = new ShapeBranch(store.scope('conv_shape'), { inChannels });
    const kernelSize = options.headKernelSize ?? 3;
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
    const conv = (name: string, outChannels: number, bias: number | undefined) =>
      new Conv2d(store.scope(name), {
        inChannels,
        outChannels,
        kernelSize,
        padding: (kernelSize - 1) / 2,
        weightInit: normal({ std: 0.01 }),
        // mmdetection `normal_init(std=0.01)`: bias 0 unless a prior probability is given.
        biasInit: bias !== undefined ? priorProbabilityBias(bias) : zeros,
      });
    const clsPrior = options.clsPriorProbability === undefined ? 0.01 : options.clsPriorProbability;
    this.cls = {
      adaption: clsAdaption,
      conv: conv(context.clsName, numClasses, clsPrior ?? undefined),
    };
    this.reg = { adaption: regAdaption, conv: conv(context.regName, 4, undefined) };
    this.shapeTargetBuilder = new ShapeTargetBuilder({
      strides: options.strides,
      octaveBaseScale: options.octaveBaseScale ?? 8,
      scalesPerOctave: options.scalesPerOctave ?? 3,
      squareScale: options.squareScale ?? 8,
      centerOffset: options.centerOffset ?? 0,
      ...options.shapeTargets,
    });
  }

  private runHeadConv(feature: tf.Tensor4D, conv: Conv2d, mask: tf.Tensor3D | null): tf.Tensor4D {
    if (!mask) return conv.apply(feature);
    const [kh] = conv.options.kernelSize as unknown as [number, number];
    return maskedConv2d(feature, conv.weight as tf.Tensor4D, mask, {
      pad: (kh - 1) / 2,
      ...(conv.bias ? { bias: conv.bias as tf.Tensor1D } : {}),
    });
  }

  apply(input: AnchorLevelInput): AnchorLevelOutput {
    const { level, clsFeature, regFeature, training } = input;
    const stride = this.options.strides[level];
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
      const cls = this.runHeadConv(clsAdapted, this.cls.conv, headMask);
      const reg = this.runHeadConv(regAdapted, this.reg.conv, headMask);
      return {
        clsScores: tf.reshape(cls, [batch, numLocations, this.numClasses]) as tf.Tensor3D,
        boxDeltas: tf.reshape(reg, [batch, numLocations, 4]) as tf.Tensor3D,
      };
    });
    const output: AnchorLevelOutput = {
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
    outputs: readonly AnchorLevelOutput[],
    context: AuxiliaryLossContext,
  ): LossRecord {
    const locLogits = outputs.map((o, level) => {
      const logits = o.extras?.locLogits;
      if (!logits)
        throw new Error(
          `GuidedAnchorFunction.auxiliaryLosses: outputs[${level}] has no extras.locLogits`,
        );
      return logits as tf.Tensor4D;
    });
    const shapePreds = outputs.map((o) => o.extras?.shapePred as tf.Tensor4D);
    const featmapSizes = locLogits.map((l) => [l.shape[1], l.shape[2]] as const);
    const labels = locationTargets(context.targets.gtBoxes, featmapSizes, {
      strides: this.options.strides,
      octaveBaseScale: this.options.octaveBaseScale ?? 8,
      centerRatio: this.options.centerRatio ?? 0.2,
      ignoreRatio: this.options.ignoreRatio ?? 0.5,
      centerOffset: this.options.centerOffset ?? 0,
    });
    const shapeTargets = this.shapeTargetBuilder.build(
      context.targets.gtBoxes,
      featmapSizes,
      context.targets.gtIgnoreBoxes,
    );
    const lossLoc = locationLoss(locLogits, labels, this.options.locationLoss);
    const lossShape = shapeLoss(shapePreds, shapeTargets, {
      ...this.options.shapeLoss,
      strides: this.options.strides,
      squareScale: this.options.squareScale ?? 8,
      deltaStd: this.options.deltaStd ?? 1,
    });
    tf.dispose(labels);
    disposeShapeTargets(shapeTargets);
    return { loss_loc: lossLoc, loss_shape: lossShape };
  }
}

/** The factory a dense head takes (`anchorFunction` option of `AnchorHead`). */
export function guidedAnchorFunction(
  options: GuidedAnchorFunctionOptions & { sharedTower?: boolean },
): AnchorFunctionFactory {
  return (context) => new GuidedAnchorFunction(context, options);
}
