import type { TrainConfig } from './config';

/** Learning rate at `baseBatchSize` scaled linearly to `batchSize` (Goyal et al. 2017, §2.1). */
export function scaledLearningRate(config: TrainConfig): number {
  return (config.baseLr * config.batchSize) / config.baseBatchSize;
}

/**
 * mmcv's step policy with linear warmup, at iteration `iter` (0-based): the regular rate is
 * `lr · gamma^(number of steps ≤ iter)`; during the first `warmupIters` it is multiplied by
 * `1 − (1 − iter / warmupIters) · (1 − warmupRatio)`.
 */
export function learningRateAt(config: TrainConfig, iter: number): number {
  const passed = config.steps.filter((step) => iter >= step).length;
  const regular = scaledLearningRate(config) * config.gamma ** passed;
  if (iter >= config.warmupIters) return regular;
  const k = (1 - iter / config.warmupIters) * (1 - config.warmupRatio);
  return regular * (1 - k);
}
