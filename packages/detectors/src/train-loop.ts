import { existsSync } from 'node:fs';
import type { DetectionDataLoader } from '@det/data';
import * as tf from '@tensorflow/tfjs-core';
import { toDetectorBatch } from './batch';
import { disposeCheckpoint, readCheckpoint } from './checkpoint';
import type { Detector } from './detector';
import { Trainer, type TrainStepResult } from './trainer';

export interface TrainOptions {
  detector: Detector;
  loader: DetectionDataLoader;
  /** Stop after this many iterations in total (default the config's `maxIters`). */
  maxIters?: number;
  /** Stop (after the current step) once this many seconds have passed. */
  timeBudgetSeconds?: number;
  /** Checkpoint file; resumed from when it exists, written every `checkpointInterval` steps and at the end. */
  checkpointPath?: string;
  checkpointInterval?: number;
  onStep?: (result: TrainStepResult) => void;
}

export interface TrainOutcome {
  /** Iterations completed in total (including resumed ones). */
  iterations: number;
  /** Why it stopped. */
  stopped: 'max-iters' | 'time-budget' | 'non-finite-loss';
  /** The losses of the last step. */
  lastLosses: Record<string, number> | undefined;
  seconds: number;
}

/**
 * Trains with a `Trainer` over a loader: resumes model, momentum, schedule and data position
 * from `checkpointPath` when present; a non-finite loss stops cleanly WITHOUT writing a
 * checkpoint, so the last good one stays.
 */
export async function trainDetector(options: TrainOptions): Promise<TrainOutcome> {
  const { detector, loader, checkpointPath } = options;
  const trainer = new Trainer({ detector });
  const maxIters = options.maxIters ?? detector.config.train.maxIters;
  const interval = options.checkpointInterval ?? 100;
  let position = { epoch: 0, index: 0 };
  if (checkpointPath && existsSync(checkpointPath)) {
    const checkpoint = await readCheckpoint(checkpointPath);
    try {
      position = trainer.restore(checkpoint);
    } finally {
      disposeCheckpoint(checkpoint);
    }
  }
  const start = performance.now();
  let stopped: TrainOutcome['stopped'] = 'max-iters';
  let lastLosses: Record<string, number> | undefined;
  try {
    if (trainer.iteration < maxIters) {
      // The loader lists every position up front, so ask for just enough epochs.
      const epochs =
        Math.ceil((maxIters - trainer.iteration) / Math.max(loader.batchesPerEpoch, 1)) + 1;
      for await (const batch of loader.batches({ from: position, epochs })) {
        let result: TrainStepResult;
        try {
          result = trainer.step(toDetectorBatch(batch));
        } finally {
          tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
        }
        options.onStep?.(result);
        lastLosses = result.losses;
        if (!result.finite) {
          stopped = 'non-finite-loss';
          break;
        }
        position = batch.next;
        const done = trainer.iteration >= maxIters;
        const outOfTime =
          options.timeBudgetSeconds !== undefined &&
          (performance.now() - start) / 1000 >= options.timeBudgetSeconds;
        if (checkpointPath && (done || outOfTime || trainer.iteration % interval === 0)) {
          await trainer.save(checkpointPath, position);
        }
        if (done) break;
        if (outOfTime) {
          stopped = 'time-budget';
          break;
        }
      }
    }
    return {
      iterations: trainer.iteration,
      stopped,
      lastLosses,
      seconds: (performance.now() - start) / 1000,
    };
  } finally {
    trainer.dispose();
  }
}
