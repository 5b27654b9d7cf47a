export { runCli } from './program';
export { buildReport } from './report';
export type { RunConfig } from './run-config';
export { resolveRunConfig } from './run-config';
