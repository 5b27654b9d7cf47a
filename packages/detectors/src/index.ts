export type {
  AnchorSchemeConfig,
  AnchorSetConfig,
  MetaAnchorSchemeConfig,
} from './anchor-scheme-config';
export { anchorSchemeSchema } from './anchor-scheme-config';
export { toDetectorBatch } from './batch';
export type {
  DetectorConfig,
  DetectorConfigInput,
  FasterRcnnConfig,
  FastRcnnConfig,
  GaFasterRcnnConfig,
  GaRetinaNetConfig,
  GaRpnConfig,
  MetaAnchorPresetOptions,
  RetinaNetConfig,
  RpnConfig,
  TrainConfig,
} from './config';
export {
  backboneConfigSchema,
  detectorConfigSchema,
  parseDetectorConfig,
  presets,
  trainConfigSchema,
} from './config';
export { createDetector } from './create-detector';
export type { Detector, DetectorBatch } from './detector';
export type { EvaluationResult } from './evaluate';
export { evaluateCoco, predictDataset, toCocoResults } from './evaluate';
export type { GuidedAnchoringDetector } from './guided-anchoring';
export {
  GaFasterRcnn,
  GaRetinaNet,
  GaRpn,
  guidedAnchorOptions,
  isGuidedAnchoringDetector,
} from './guided-anchoring';
export type { GuidedAnchoringConfig } from './guided-anchoring-config';
export {
  gaRetinaNetGuidedDefaults,
  gaRpnGuidedDefaults,
  guidedAnchoringSchema,
} from './guided-anchoring-config';
export type {
  GuidedAnchoringDiagnostics,
  GuidedAnchoringDiagnosticsOptions,
} from './guided-anchoring-diagnostics';
export { writeGuidedAnchoringDiagnostics } from './guided-anchoring-diagnostics';
export type { MetaRetinaNetOptions } from './meta-retinanet';
export { MetaRetinaNet, metaAnchorFunctionOf } from './meta-retinanet';
export type { ProposalsByImage, ReadProposalsOptions } from './proposals-file';
export {
  parseProposals,
  proposalsForBatch,
  readProposalsFile,
  writeProposalsFile,
} from './proposals-file';
export type { RetinaNetOptions } from './retinanet';
export { RetinaNet } from './retinanet';
export type { SearchAnchorConfigurationOptions } from './search-anchor-configuration';
export { searchAnchorConfiguration } from './search-anchor-configuration';
export { FasterRcnn, FastRcnn, Rpn } from './two-stage';
