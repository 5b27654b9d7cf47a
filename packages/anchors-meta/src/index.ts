export type {
  AnchorCode,
  AnchorCodeOptions,
  AnchorSize,
  AnchorSpec,
  ScaleRatio,
  StandardBox,
} from './anchor-encoding';
export {
  anchorCodes,
  decodeAnchorCode,
  encodeAnchorBox,
  scaleRatioToSize,
  standardBoxAtLevel,
} from './anchor-encoding';
export type {
  AnchorFunctionGeneratorOptions,
  GeneratedFilters,
} from './anchor-function-generator';
export { AnchorFunctionGenerator } from './anchor-function-generator';
export type { AnchorSetInput } from './anchor-set';
export { jitterAnchorCodes, resolveAnchorSet } from './anchor-set';
export type {
  AnchorSetScorer,
  GreedyAnchorSearchOptions,
  GreedySearchResult,
  GreedySearchStep,
} from './greedy-anchor-search';
export { greedyAnchorSearch, uniformCodeCandidates } from './greedy-anchor-search';
export type { MetaAnchorOptions, MetaAnchorPlan } from './meta-anchor-function';
export { MetaAnchorFunction, metaAnchorFunction } from './meta-anchor-function';
export type { MetaAnchorLayerOptions } from './meta-anchor-layer';
export { metaAnchorLayer } from './meta-anchor-layer';
export type { MetaAnchorPreset, MetaAnchorPresetName } from './presets';
export { metaAnchorPreset, metaAnchorPresets, presetAnchors } from './presets';
