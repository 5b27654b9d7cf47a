export type { AllOptions } from './all';
export { allCommand, defaultAll } from './all';
export type { CompareOptions, CompareRow } from './compare';
export { compareCommand, formatTable } from './compare';
export type { FineTuneOptions, FineTuneSettings } from './finetune';
export {
  defaultFineTune,
  fineTuneCommand,
  fineTuneConfig,
  prepareFineTune,
  runFinished,
} from './finetune';
export { runFinetuneCli } from './program';
export type { ProposalsOptions } from './proposals';
export {
  loadProposalDetector,
  predictProposals,
  proposalDetectorConfig,
  proposalsCommand,
} from './proposals';
export type { MergeReport, ProposalEntry, ShardContent, ShardSpec } from './shards';
export {
  finishedShard,
  mergedFile,
  mergeShards,
  parseShard,
  readShard,
  shardFile,
  shardImages,
  writeShard,
} from './shards';
