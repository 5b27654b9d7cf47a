export type {
  AnchorConditionedLayer,
  AnchorConditionedLayerContext,
  AnchorConditionedLayerFactory,
  AnchorExtras,
  AnchorFunction,
  AnchorFunctionContext,
  AnchorFunctionFactory,
  AnchorLevelInput,
  AnchorLevelOutput,
  AuxiliaryLossContext,
  CompactLevelOutput,
  ForwardOptions,
  InferenceLevelOutput,
} from './anchor-function';
export { isCompactLevelOutput } from './anchor-function';
export type { AnchorHeadOptions, DensePlan, PreparedDenseLoss } from './anchor-head';
export {
  AnchorHead,
  disposeLevelOutputs,
  disposePreparedDenseLoss,
  ignoreCoveredWithoutGts,
  ignoreIofThresholdOf,
} from './anchor-head';
export type { ConvTowerOptions } from './conv-tower';
export { ConvTower } from './conv-tower';
export type { DenseAnchorFunctionOptions, DenseAnchorShapes } from './dense-anchor-function';
export { DenseAnchorFunction, denseAnchorFunction } from './dense-anchor-function';
export {
  focalClassificationLoss,
  l1RegressionLoss,
  sigmoidClassificationLoss,
  smoothL1RegressionLoss,
  softmaxClassificationLoss,
} from './loss-functions';
export type { DetectionTestConfig, ProposalConfig, Proposals } from './post-process';
export {
  denseDetections,
  denseDetectionsAsync,
  denseProposals,
  denseProposalsAsync,
  detectionTestDefaults,
  multiclassNms,
  proposalDefaults,
} from './post-process';
export type { RetinaHeadOptions } from './retina-head';
export { createRetinaHead, retinaAssigner } from './retina-head';
export type { PreparedRoiLoss, RoiHeadOptions } from './roi-head';
export { disposePreparedRoiLoss, RoiHead } from './roi-head';
export type { RpnHeadOptions } from './rpn-head';
export { createRpnHead, rpnAssigner } from './rpn-head';
export type {
  ClassificationLoss,
  Detections,
  HeadTargets,
  ImageShape,
  LossRecord,
  RegressionLoss,
} from './types';
