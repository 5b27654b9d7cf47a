export { evaluationLoader, loadSplit, trainingData } from './datasets';
export { jsonLinesLogHook } from './log-hook';
export { runCli } from './program';
export { progressHook } from './progress';
export { buildReport } from './report';
export type { RunConfig } from './run-config';
export { resolveRunConfig } from './run-config';
