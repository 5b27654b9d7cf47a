export { boxIou } from './box-iou';
export type { CocoResult, DetectionArrays, LoadResultsOptions } from './detections';
export { CocoDetections, checkImageIds, loadResults, loadResultsJson } from './detections';
export { CocoInputError } from './errors';
export type { CocoAccumulation, CocoEvaluatorOptions } from './evaluator';
export { CocoEvaluator } from './evaluator';
export { formatFixed } from './format-fixed';
export type { CocoCategory, CocoGroundTruthOptions, GroundTruthAnnotation } from './ground-truth';
export { CocoGroundTruth } from './ground-truth';
export { pairwiseMean, pairwiseSum } from './pairwise-sum';
export type { AreaRange, CocoEvalParams } from './params';
export { defaultParams, linspace, uniqueSorted } from './params';
export type { CategoryMetrics, CocoSummary, SummarizeQuery } from './summarize';
export {
  meanOfValid,
  perCategoryMetrics,
  summarize,
  summarizeStat,
  summaryLine,
  summaryQueries,
} from './summarize';
