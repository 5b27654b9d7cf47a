export type {
  AnchorSchemeConfig,
  AnchorSchemeType,
  AnchorSetConfig,
  DenseAnchorsConfig,
  GuidedDefaults,
  GuidedSchemeConfig,
  MetaAnchorSchemeConfig,
  MetaGuidedSchemeConfig,
  SchemeDefaults,
} from './anchor-scheme-config';
export {
  anchorSchemeSchema,
  gaRetinaNetGuidedDefaults,
  gaRpnGuidedDefaults,
  retinaAnchorSchemeSchema,
  rpnAnchorSchemeSchema,
} from './anchor-scheme-config';
export { toDetectorBatch } from './batch';
export {
  anchorSchemeFunction,
  buildDenseHead,
  buildRoiHead,
  guidedAnchorOptions,
} from './build-parts';
export type {
  BackboneConfig,
  DenseHeadConfig,
  DetectionTestConfig,
  DetectorConfig,
  DetectorConfigInput,
  RetinaHeadConfig,
  RoiHeadConfig,
  RpnHeadConfig,
  SingleStageConfig,
  TrainConfig,
  TwoStageConfig,
} from './config';
export {
  backboneConfigSchema,
  detectorConfigSchema,
  headTargetDefaults,
  parseDetectorConfig,
  trainConfigSchema,
} from './config';
export type { DetectorParts } from './create-detector';
export { createDetector } from './create-detector';
export type { Detector, DetectorBatch, PreparedLosses } from './detector';
export type { EvaluationResult } from './evaluate';
export { evaluateCoco, predictDataset, toCocoResults } from './evaluate';
export type { GuidedAnchorLevel } from './guided-anchor-maps';
export { countKeptAnchors, guidedAnchorMaps } from './guided-anchor-maps';
export type { ExportedModelInfo } from './model-file';
export {
  exportDetector,
  loadExportedDetector,
  modelFileFormat,
  modelFileVersion,
  parseModelInfo,
} from './model-file';
export type {
  FeaturePyramid,
  PreparedDense,
  PreparedSource,
  ProposalSource,
  PyramidLevels,
} from './parts';
export { DenseProposalSource, PrecomputedProposalSource, resnetFpnPyramid } from './parts';
export type { MetaAnchorPresetOptions } from './presets';
export { presets } from './presets';
export type { ProposalsByImage, ReadProposalsOptions } from './proposals';
export { parseProposals, proposalsForBatch } from './proposals';
export { denseHeadOf, guidedAnchorFunctionOf, metaAnchorFunctionOf } from './scheme-access';
export type {
  AnchorSearchData,
  SearchAnchorConfigurationOptions,
} from './search-anchor-configuration';
export {
  evaluationSplitSearchWarning,
  searchAnchorConfiguration,
} from './search-anchor-configuration';
export type { SingleStageDetectorOptions, SingleStageOutput } from './single-stage-detector';
export { SingleStageDetector } from './single-stage-detector';
export type { TwoStageDetectorOptions } from './two-stage-detector';
export { TwoStageDetector } from './two-stage-detector';
