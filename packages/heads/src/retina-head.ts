import {
  type Assigner,
  type BoxCoder,
  DeltaXYWHBoxCoder,
  MaxIoUAssigner,
  type ParameterStore,
  PseudoSampler,
  retinanetAnchorOptions,
  type Sampler,
} from '@det/core';
import type { AnchorFunctionFactory } from './anchor-function';
import { AnchorHead } from './anchor-head';
import { type DenseAnchorShapes, denseAnchorFunction } from './dense-anchor-function';
import { focalClassificationLoss, l1RegressionLoss } from './loss-functions';
import type { ClassificationLoss, RegressionLoss } from './types';

export interface RetinaHeadOptions {
  store: ParameterStore;
  numClasses: number;
  /** FPN channels. Default 256. */
  inChannels?: number;
  /** Tower channels. Default 256. */
  featChannels?: number;
  /** Convs per tower. Default 4 (RetinaNet §4). */
  stackedConvs?: number;
  /** Strides of the input levels. Default P3–P7: 8, 16, …, 128. */
  strides?: readonly number[];
  /** Anchors of the default dense anchor function. Default RetinaNet's 9 per location. */
  anchors?: DenseAnchorShapes;
  /** Replaces the sliding-window anchor function (MetaAnchor, Guided Anchoring). */
  anchorFunction?: AnchorFunctionFactory;
  /** Seed of what the anchor function draws. Default 0. */
  seed?: number;
  /** Default mmdetection's: IoU ≥ 0.5 positive, < 0.4 negative, low-quality matches with min IoU 0. */
  assigner?: Assigner;
  sampler?: Sampler;
  /** Default deltas with means 0, stds 1. */
  coder?: BoxCoder;
  /** Default sigmoid focal loss (α 0.25, γ 2). */
  clsLoss?: ClassificationLoss;
  /** Default L1 (mmdetection 1×). */
  regLoss?: RegressionLoss;
}

/** mmdetection's `retinanet_r50_fpn_1x` head `train_cfg.assigner`.,
 * except that ignore regions are honoured: priors whose IoF with an ignore box (COCO crowd,
 * MetaAnchor's dropped objects) exceeds 0.5 are ignored — mmdetection's `ignore_iof_thr`
 * semantics at the value its configs use when they turn it on (their default −1 turns it off,
 * which would train dropped objects as background).
 */
export function retinaAssigner(): MaxIoUAssigner {
  return new MaxIoUAssigner({
    posIouThreshold: 0.5,
    negIouThreshold: 0.4,
    minPosIou: 0,
    ignoreIofThreshold: 0.5,
  });
}

/**
 * The RetinaNet head (Lin et al. 2017, §4 "Classification / Box Regression Subnet"): two
 * towers of 3×3 convs shared across levels, an anchor function over 9 anchors per location
 * with prior-probability bias π = 0.01, focal loss over all anchors and L1 on positives,
 * both averaged over the number of positives.
 */
export function createRetinaHead(options: RetinaHeadOptions): AnchorHead {
  const { strides: defaultStrides, ...defaultAnchors } = retinanetAnchorOptions;
  return new AnchorHead({
    store: options.store,
    inChannels: options.inChannels ?? 256,
    featChannels: options.featChannels ?? 256,
    stackedConvs: options.stackedConvs ?? 4,
    numClasses: options.numClasses,
    strides: options.strides ?? (defaultStrides as readonly number[]),
    kernelSize: 3,
    priorProbability: 0.01,
    seed: options.seed ?? 0,
    anchorFunction:
      options.anchorFunction ?? denseAnchorFunction({ anchors: options.anchors ?? defaultAnchors }),
    assigner: options.assigner ?? retinaAssigner(),
    sampler: options.sampler ?? new PseudoSampler(),
    coder: options.coder ?? new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [1, 1, 1, 1] }),
    clsLoss: options.clsLoss ?? focalClassificationLoss({ alpha: 0.25, gamma: 2 }),
    regLoss: options.regLoss ?? l1RegressionLoss(),
    averageOver: 'positives',
  });
}
