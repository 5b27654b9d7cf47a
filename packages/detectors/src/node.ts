// `@det/detectors/node`: the file-writing and -reading parts (fs, sharp). The main entry runs
// in a web page (apps/playground bundles it; its bundle check guards that it stays so).
export type {
  GuidedAnchoringDiagnostics,
  GuidedAnchoringDiagnosticsOptions,
} from './guided-anchoring-diagnostics';
export { writeGuidedAnchoringDiagnostics } from './guided-anchoring-diagnostics';
export { readProposalsFile, writeProposalsFile } from './proposals-file';
