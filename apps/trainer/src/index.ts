export { startBackend } from './backend';
export { collectOption, numberOption, runBinary } from './command-line';
export type { LoadedSplit } from './datasets';
export {
  evaluationLoader,
  loadSplit,
  loadSplitProposals,
  numClassesOf,
  trainingData,
} from './datasets';
export type { EvaluationDetails } from './evaluation';
export { evaluateDetector, evaluateResults } from './evaluation';
export { jsonLinesLogHook } from './log-hook';
export type { LoadedModel } from './model';
export {
  checkpointOf,
  detectorFrom,
  initialiseFrom,
  loadModel,
  readRunConfig,
  runConfigOf,
} from './model';
export { runCli } from './program';
export { progressHook } from './progress';
export type { ReportTable } from './report';
export { buildReport, readReportTables } from './report';
export type { DataConfig, RunConfig } from './run-config';
export { resolveRunConfig } from './run-config';
export { runPaths } from './run-folder';
export type { CommandIo, TrainCommandOptions } from './train-command';
export { trainCommand } from './train-command';
