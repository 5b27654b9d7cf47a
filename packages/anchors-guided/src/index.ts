export type { ApproxMaxIoUAssignerOptions } from './approx-max-iou-assigner';
export { ApproxMaxIoUAssigner, approxMaxOverlaps } from './approx-max-iou-assigner';
export type { FeatureAdaptionOptions } from './feature-adaption';
export { FeatureAdaption } from './feature-adaption';
export type { LocationBranchOptions, ShapeBranchOptions } from './guided-anchor-branches';
export { LocationBranch, ShapeBranch } from './guided-anchor-branches';
export type {
  GuidedAnchorComponents,
  GuidedAnchorFunctionOptions,
  GuidedExtras,
  SparseInferenceMode,
} from './guided-anchor-function';
export {
  GuidedAnchorFunction,
  guidedAnchorFunction,
  plainConvLayer,
  resolveComponents,
  sparseGeometry,
  sparseMaxKeptByBackend,
  sparseMaxKeptFor,
} from './guided-anchor-function';
export type { GuidedAnchorOptions } from './guided-anchors';
export { guidedAnchors, guidedAnchorsAt, levelSquares, locationMask } from './guided-anchors';
export type { LocationLossOptions, LocationNormalizer } from './location-loss';
export { locationLoss } from './location-loss';
export type { LocationTargetOptions } from './location-targets';
export {
  gtLevels,
  LOCATION_IGNORE,
  LOCATION_NEGATIVE,
  LOCATION_POSITIVE,
  locationTargets,
} from './location-targets';
export { gaRetinaNetAnchorOptions, gaRpnAnchorOptions } from './presets';
export type { ShapeDecodeOptions, ShapeLossOptions } from './shape-loss';
export { decodeShape, shapeLoss } from './shape-loss';
export type { ShapeTargetOptions, ShapeTargets } from './shape-targets';
export { disposeShapeTargets, ShapeTargetBuilder } from './shape-targets';
