export type { Checkpoint, TrainingState } from './checkpoint';
export {
  checkpointFiles,
  disposeCheckpoint,
  loadParameters,
  readCheckpoint,
  saveCheckpoint,
} from './checkpoint';
export { clipFlatGradient, clipGradientNorm } from './clip';
export type { FlatLayout } from './flat';
export { flatten, layoutOf, unflatten } from './flat';
export type {
  CheckpointKind,
  DataItem,
  EvaluationOptions,
  LoopContext,
  StepReport,
  TrainingData,
  TrainingHook,
  TrainLoopOptions,
  TrainOutcome,
} from './loop';
export { restoreTraining, trainLoop } from './loop';
export type {
  AdamWOptions,
  OptimizerKind,
  OptimizerOptions,
  OptimizerState,
  SgdOptions,
  Slots,
} from './optimizer';
export { AdamW, createOptimizer, Optimizer, Sgd } from './optimizer';
export type { ScheduleOptions } from './schedule';
export { learningRateAt } from './schedule';
export type { TrainSettings } from './settings';
export { engineOptionsOf, trainerFor } from './settings';
export type { JsonValue, PreparedStep, Trainable } from './trainable';
export type { TrainerOptions, TrainStepResult } from './trainer';
export { Trainer } from './trainer';
