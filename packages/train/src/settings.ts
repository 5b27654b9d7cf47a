import { createOptimizer, type OptimizerOptions } from './optimizer';
import type { ScheduleOptions } from './schedule';
import type { Trainable } from './trainable';
import { Trainer } from './trainer';

/**
 * An mmdetection-style `train` section (what `@det/detectors`' config holds), typed by shape
 * only so the engine knows nothing of detectors.
 */
export interface TrainSettings {
  /** Rate at `baseBatchSize` images per step, scaled linearly to `batchSize` (Goyal et al. 2017). */
  baseLr: number;
  baseBatchSize: number;
  batchSize: number;
  /** `adam` is AdamW (decoupled weight decay). */
  optimizer: 'sgd' | 'adam' | 'adamw';
  momentum: number;
  adamBetas: readonly [number, number];
  weightDecay: number;
  gradClipNorm: number;
  warmupIters: number;
  warmupRatio: number;
  maxIters: number;
  steps: readonly number[];
  gamma: number;
  /** Default `step`. */
  policy?: 'step' | 'cosine';
  /** Cosine floor (default 0). */
  minLr?: number;
}

/** The engine's optimizer, schedule and clip for a `train` section. */
export function engineOptionsOf(settings: TrainSettings): {
  optimizer: OptimizerOptions;
  schedule: ScheduleOptions;
  gradClipNorm: number;
} {
  const optimizer: OptimizerOptions =
    settings.optimizer === 'sgd'
      ? { kind: 'sgd', momentum: settings.momentum, weightDecay: settings.weightDecay }
      : {
          kind: 'adamw',
          beta1: settings.adamBetas[0],
          beta2: settings.adamBetas[1],
          epsilon: 1e-8,
          weightDecay: settings.weightDecay,
        };
  const schedule: ScheduleOptions = {
    baseLr: (settings.baseLr * settings.batchSize) / settings.baseBatchSize,
    policy: settings.policy ?? 'step',
    warmupIters: settings.warmupIters,
    warmupRatio: settings.warmupRatio,
    steps: settings.steps,
    gamma: settings.gamma,
    maxIters: settings.maxIters,
    ...(settings.minLr !== undefined ? { minLr: settings.minLr } : {}),
  };
  return { optimizer, schedule, gradClipNorm: settings.gradClipNorm };
}

/** A `Trainer` for `model` with the optimizer, schedule and clip of a `train` section. */
export function trainerFor<Batch>(
  model: Trainable<Batch>,
  settings: TrainSettings,
): Trainer<Batch> {
  const options = engineOptionsOf(settings);
  return new Trainer({
    model,
    optimizer: createOptimizer(options.optimizer),
    schedule: options.schedule,
    gradClipNorm: options.gradClipNorm,
  });
}
