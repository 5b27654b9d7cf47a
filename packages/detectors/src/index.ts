export { toDetectorBatch } from './batch';
export type { Checkpoint, TrainingState } from './checkpoint';
export { disposeCheckpoint, loadParameters, readCheckpoint, saveCheckpoint } from './checkpoint';
export type {
  DetectorConfig,
  DetectorConfigInput,
  FasterRcnnConfig,
  FastRcnnConfig,
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
export type { RetinaNetOptions } from './retinanet';
export { RetinaNet } from './retinanet';
export { learningRateAt, scaledLearningRate } from './schedule';
export type { SgdOptions } from './sgd';
export { clipGradientNorm, Sgd } from './sgd';
export type { TrainOptions, TrainOutcome } from './train-loop';
export { trainDetector } from './train-loop';
export type { TrainStepResult } from './trainer';
export { Trainer } from './trainer';
export { FasterRcnn, FastRcnn, Rpn } from './two-stage';
