import {
  ApproxMaxIoUAssigner,
  type GuidedAnchorComponents,
  type GuidedAnchorFunctionOptions,
  guidedAnchorFunction,
} from '@det/anchors-guided';
import { metaAnchorFunction, metaAnchorLayer } from '@det/anchors-meta';
import { DeltaXYWHBoxCoder, MaxIoUAssigner, type ParameterStore, RandomSampler } from '@det/core';
import {
  type AnchorFunctionFactory,
  type AnchorHead,
  createRetinaHead,
  createRpnHead,
  denseAnchorFunction,
  focalClassificationLoss,
  l1RegressionLoss,
  type RegressionLoss,
  RoiHead,
  smoothL1RegressionLoss,
} from '@det/heads';
import type { AnchorSchemeConfig, GuidedSchemeConfig } from './anchor-scheme-config';
import type { DenseHeadConfig, RoiHeadConfig } from './config';

/** The set switches of a scheme's `components` (Table 4's ablation). */
function componentsOf(components: NonNullable<GuidedSchemeConfig['components']>) {
  return Object.fromEntries(
    Object.entries(components).filter(([, on]) => on !== undefined),
  ) as GuidedAnchorComponents;
}

/** `@det/anchors-guided`'s options for a `guided` / `meta-guided` scheme config. */
export function guidedAnchorOptions(
  scheme: GuidedSchemeConfig,
  seed: number,
): GuidedAnchorFunctionOptions {
  return {
    squareScale: scheme.squareScale,
    octaveBaseScale: scheme.octaveBaseScale,
    scalesPerOctave: scheme.scalesPerOctave,
    deltaStd: scheme.anchorDeltaStd,
    deformGroups: scheme.deformGroups,
    adaptionWeightStd: scheme.adaptionWeightStd,
    locationThreshold: scheme.locationThreshold,
    sparseInference: scheme.sparseInference,
    ...(scheme.sparseMaxKept === undefined ? {} : { sparseMaxKept: scheme.sparseMaxKept }),
    centerRatio: scheme.centerRatio,
    ignoreRatio: scheme.ignoreRatio,
    centerOffset: scheme.centerOffset,
    locationIgnoreBoxes: scheme.locationIgnoreBoxes,
    ...(scheme.components === undefined ? {} : { components: componentsOf(scheme.components) }),
    locationLoss: {
      lossWeight: scheme.locationLossWeight,
      negativeWeight: scheme.locationNegativeWeight,
      normalizer: scheme.locationLossNormalizer,
    },
    shapeLoss: { normalizer: scheme.shapeLossNormalizer, lossWeight: scheme.shapeLossWeight },
    shapeTargets: {
      assigner: new ApproxMaxIoUAssigner({ ...scheme.shapeAssigner, ignoreIofThreshold: -1 }),
      sampler: new RandomSampler({
        num: scheme.shapeSampleSize,
        posFraction: scheme.shapePositiveFraction,
        negPosUpperBound: -1,
        addGtAsProposals: false,
        seed,
      }),
      ratios: scheme.approxRatios,
    },
  };
}

/**
 * The anchor function of a scheme config, built the same way for every scheme (a factory the
 * head calls with its context: strides, shared tower, kernel, class prior, seed).
 */
export function anchorSchemeFunction(
  scheme: AnchorSchemeConfig,
  options: { strides: readonly number[]; seed: number },
): AnchorFunctionFactory {
  switch (scheme.type) {
    case 'dense':
      return denseAnchorFunction({ anchors: scheme.anchors });
    case 'meta':
      return metaAnchorFunction({
        anchors: scheme.anchors,
        ...(scheme.inferenceAnchors ? { inferenceAnchors: scheme.inferenceAnchors } : {}),
        ...(scheme.standardBox ? { standardBox: scheme.standardBox } : {}),
        dataDependent: scheme.dataDependent,
        hiddenSize: scheme.hiddenSize,
        jitter: scheme.jitter,
        baseSize: scheme.baseSize,
      });
    case 'guided':
      return guidedAnchorFunction(guidedAnchorOptions(scheme, options.seed));
    case 'meta-guided': {
      // b = 0 at the level's square anchor (σ·s) unless a standard box is given.
      const square = scheme.squareScale * options.strides[0]!;
      return guidedAnchorFunction({
        ...guidedAnchorOptions(scheme, options.seed),
        outputLayer: metaAnchorLayer({
          standardBox: scheme.standardBox ?? [square, square],
          hiddenSize: scheme.hiddenSize,
          dataDependent: scheme.dataDependent,
        }),
      });
    }
  }
}

function regressionLoss(head: DenseHeadConfig): RegressionLoss {
  return head.regression.loss === 'l1'
    ? l1RegressionLoss()
    : smoothL1RegressionLoss({ beta: head.regression.beta });
}

/**
 * A dense head from its config: RetinaNet-style (`bbox_head`: towers, focal loss) or
 * RPN-style (`rpn_head`: shared tower, sampled objectness), ending in its anchor scheme (or
 * `anchorFunction`, a user's own).
 */
export function buildDenseHead(options: {
  head: DenseHeadConfig;
  numClasses: number;
  inChannels: number;
  strides: readonly number[];
  store: ParameterStore;
  seed: number;
  anchorFunction?: AnchorFunctionFactory | undefined;
}): AnchorHead {
  const { head, strides, seed } = options;
  const anchorFunction =
    options.anchorFunction ?? anchorSchemeFunction(head.anchorScheme, { strides, seed });
  const assigner = new MaxIoUAssigner(head.assigner);
  const coder = new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: head.targetStds });
  if (head.type === 'retina') {
    return createRetinaHead({
      store: options.store.scope('bbox_head'),
      numClasses: options.numClasses,
      inChannels: options.inChannels,
      featChannels: head.featChannels,
      stackedConvs: head.stackedConvs,
      strides,
      seed,
      anchorFunction,
      assigner,
      coder,
      clsLoss: focalClassificationLoss({ alpha: head.focalAlpha, gamma: head.focalGamma }),
      regLoss: regressionLoss(head),
    });
  }
  return createRpnHead({
    store: options.store.scope('rpn_head'),
    inChannels: options.inChannels,
    featChannels: head.featChannels,
    strides,
    seed,
    anchorFunction,
    assigner,
    sampler: new RandomSampler({
      num: head.sampleSize,
      posFraction: head.positiveFraction,
      negPosUpperBound: -1,
      addGtAsProposals: false,
      seed,
    }),
    coder,
    regLoss: regressionLoss(head),
  });
}

/** The RoI head (`roi_head`) from its config, pooling levels of the given strides. */
export function buildRoiHead(options: {
  roi: RoiHeadConfig;
  numClasses: number;
  inChannels: number;
  featmapStrides: readonly number[];
  store: ParameterStore;
  seed: number;
}): RoiHead {
  const { roi } = options;
  return new RoiHead({
    store: options.store.scope('roi_head'),
    inChannels: options.inChannels,
    numClasses: options.numClasses,
    featmapStrides: options.featmapStrides,
    fcChannels: roi.fcChannels,
    roiSize: roi.roiSize,
    samplingRatio: roi.samplingRatio,
    assigner: new MaxIoUAssigner({ ...roi.assigner, matchLowQuality: false }),
    sampler: new RandomSampler({
      num: roi.sampleSize,
      posFraction: roi.positiveFraction,
      addGtAsProposals: true,
      seed: options.seed + 1,
    }),
    coder: new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [...roi.targetStds] }),
  });
}
