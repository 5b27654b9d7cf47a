import {
  type Assigner,
  type BoxCoder,
  DeltaXYWHBoxCoder,
  MaxIoUAssigner,
  type ParameterStore,
  RandomSampler,
  rpnAnchorOptions,
  type Sampler,
} from '@det/core';
import type { AnchorFunctionFactory } from './anchor-function';
import { AnchorHead } from './anchor-head';
import { type DenseAnchorShapes, denseAnchorFunction } from './dense-anchor-function';
import { l1RegressionLoss, sigmoidClassificationLoss } from './loss-functions';
import type { ClassificationLoss, RegressionLoss } from './types';

export interface RpnHeadOptions {
  store: ParameterStore;
  /** FPN channels. Default 256. */
  inChannels?: number;
  /** Channels of `rpn_conv`. Default 256. */
  featChannels?: number;
  /** Strides of the input levels. Default P2–P6: 4, 8, …, 64. */
  strides?: readonly number[];
  /** Default FPN's RPN anchors: scale 8, 3 ratios. */
  anchors?: DenseAnchorShapes;
  anchorFunction?: AnchorFunctionFactory;
  /** Default IoU ≥ 0.7 positive, < 0.3 negative, low-quality matches ≥ 0.3 (Faster R-CNN §3.1.2). */
  assigner?: Assigner;
  /** Default 256 anchors per image, at most half positive. */
  sampler?: Sampler;
  coder?: BoxCoder;
  clsLoss?: ClassificationLoss;
  regLoss?: RegressionLoss;
  /** Seed of the default random sampler and of what the anchor function draws. */
  seed?: number;
}

/** mmdetection's `rpn` `train_cfg.assigner`.,
 * except that ignore regions are honoured: priors whose IoF with an ignore box (COCO crowd,
 * MetaAnchor's dropped objects) exceeds 0.5 are ignored — mmdetection's `ignore_iof_thr`
 * semantics at the value its configs use when they turn it on (their default −1 turns it off,
 * which would train dropped objects as background).
 */
export function rpnAssigner(): MaxIoUAssigner {
  return new MaxIoUAssigner({
    posIouThreshold: 0.7,
    negIouThreshold: 0.3,
    minPosIou: 0.3,
    ignoreIofThreshold: 0.5,
  });
}

/**
 * The RPN head (Ren et al. 2015 §3.1; FPN §4.1): a shared 3×3 conv (`rpn_conv`) and 1×1
 * objectness / box convs over A anchors, a binary sigmoid cross-entropy and L1, both
 * averaged over the 256 sampled anchors per image.
 */
export function createRpnHead(options: RpnHeadOptions): AnchorHead {
  const { strides: defaultStrides, ...defaultAnchors } = rpnAnchorOptions;
  return new AnchorHead({
    store: options.store,
    inChannels: options.inChannels ?? 256,
    featChannels: options.featChannels ?? 256,
    stackedConvs: 1,
    sharedTower: true,
    numClasses: 1,
    classAgnostic: true,
    lossPrefix: 'rpn_',
    strides: options.strides ?? (defaultStrides as readonly number[]),
    kernelSize: 1,
    priorProbability: null,
    seed: options.seed ?? 0,
    anchorFunction:
      options.anchorFunction ?? denseAnchorFunction({ anchors: options.anchors ?? defaultAnchors }),
    assigner: options.assigner ?? rpnAssigner(),
    sampler:
      options.sampler ??
      new RandomSampler({
        num: 256,
        posFraction: 0.5,
        negPosUpperBound: -1,
        addGtAsProposals: false,
        seed: options.seed ?? 0,
      }),
    coder: options.coder ?? new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [1, 1, 1, 1] }),
    clsLoss: options.clsLoss ?? sigmoidClassificationLoss(),
    regLoss: options.regLoss ?? l1RegressionLoss(),
    averageOver: 'samples',
  });
}
