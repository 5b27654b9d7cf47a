import { existsSync } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  type Checkpoint,
  checkpointFiles,
  disposeCheckpoint,
  loadParameters,
  readCheckpoint,
  saveCheckpoint,
  type TrainingState,
} from './checkpoint';
import type { OptimizerOptions } from './optimizer';
import type { JsonValue } from './trainable';
import type { Trainer, TrainStepResult } from './trainer';

/** One batch from a data source, with the position to resume from after it. */
export interface DataItem<Batch> {
  batch: Batch;
  /** Position of the batch after this one (saved in checkpoints). */
  next: JsonValue;
  /** Images in the batch (for images/s). */
  size: number;
  /** Frees the batch's tensors once the step is done. */
  dispose(): void;
}

/**
 * Where batches come from: deterministic from a position, so that resuming at a saved
 * position gives the same batches (data order, augmentation) as an uninterrupted run.
 */
export interface TrainingData<Batch> {
  /** Batches from `from` (undefined: the start) onwards; may end (the loop then stops). */
  batches(from: JsonValue | undefined): AsyncIterable<DataItem<Batch>>;
}

/** What every hook sees. */
export interface LoopContext<Batch> {
  readonly trainer: Trainer<Batch>;
  readonly maxIters: number;
  /** Training seconds so far, earlier sessions included. */
  readonly elapsedSeconds: number;
}

/** A step as logged: the trainer's result plus speed and memory. */
export interface StepReport extends TrainStepResult {
  /** Wall seconds of this step (forward, backward, update). */
  stepSeconds: number;
  /** Wall seconds since the previous step ended (includes waiting for data and hooks). */
  cycleSeconds: number;
  imagesPerSecond: number;
  elapsedSeconds: number;
  tensors: number;
  heapBytes: number;
}

export type CheckpointKind = 'last' | 'best';

/** Callbacks around the loop's events (logging, progress, extra evaluation...). */
export interface TrainingHook<Batch> {
  beforeStep?(context: LoopContext<Batch>): void | Promise<void>;
  afterStep?(context: LoopContext<Batch>, report: StepReport): void | Promise<void>;
  beforeEval?(context: LoopContext<Batch>): void | Promise<void>;
  afterEval?(context: LoopContext<Batch>, metrics: Record<string, number>): void | Promise<void>;
  afterCheckpoint?(context: LoopContext<Batch>, path: string, kind: CheckpointKind): void;
  afterTraining?(context: LoopContext<Batch>, outcome: TrainOutcome): void | Promise<void>;
}

export interface EvaluationOptions<Batch> {
  /** Evaluate every this many iterations (0: only at the end). */
  interval: number;
  evaluate(context: LoopContext<Batch>): Promise<Record<string, number>>;
  /** Metric that picks `best` (higher is better); no best checkpoint without it. */
  bestMetric?: string;
}

export interface TrainLoopOptions<Batch> {
  trainer: Trainer<Batch>;
  data: TrainingData<Batch>;
  /** Optimizer kind and hyperparameters, recorded in checkpoints. */
  optimizerOptions: OptimizerOptions;
  /** Stop once this many iterations are done in total. */
  maxIters: number;
  /** Seconds this session may train (stops after the step that reaches it). */
  timeBudgetSeconds?: number;
  /** `<directory>/last.*` every `interval` steps and when stopping, `<directory>/best.*`. */
  checkpoint?: { directory: string; interval: number; config?: JsonValue };
  /** Continue from `<checkpoint.directory>/last.*` when it exists. */
  resume?: boolean;
  evaluation?: EvaluationOptions<Batch>;
  hooks?: readonly TrainingHook<Batch>[];
  /** Aborting stops after the current step with a checkpoint (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

export interface TrainOutcome {
  /** Iterations completed in total (resumed ones included). */
  iterations: number;
  stopped: 'max-iters' | 'time-budget' | 'interrupted' | 'non-finite-loss' | 'data-exhausted';
  /** The iteration training resumed from (0 for a fresh start). */
  resumedFrom: number;
  lastLosses: Record<string, number> | undefined;
  lastMetrics: Record<string, number> | undefined;
  best: TrainingState['best'];
  /** Seconds this session. */
  seconds: number;
  /** Training seconds over all sessions. */
  elapsedSeconds: number;
  /** Set when stopped on a non-finite loss: which step and term. */
  nonFinite?: { iteration: number; term: string; value: number; message: string };
}

/** Creates the checkpoint folder and deletes temporary files a killed writer left behind. */
async function removeStaleTemporaries(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  for (const name of await readdir(directory)) {
    if (/^(last|best)\.(safetensors|json)\.\d+\.[0-9a-f]{8}\.tmp$/.test(name))
      await unlink(join(directory, name)).catch(() => undefined);
  }
}

/** Restores trainer, model, optimizer and positions from a checkpoint. */
export function restoreTraining<Batch>(
  trainer: Trainer<Batch>,
  checkpoint: Checkpoint,
): TrainingState {
  loadParameters(trainer.model.parameters, checkpoint.parameters, checkpoint.path);
  trainer.optimizer.loadState(checkpoint.optimizer);
  trainer.iteration = checkpoint.state.iteration;
  if (checkpoint.state.modelRandomState !== undefined)
    trainer.model.restoreRandomState?.(checkpoint.state.modelRandomState);
  return checkpoint.state;
}

/**
 * The training loop: steps over the data, runs hooks, evaluates, checkpoints, and stops at
 * `maxIters`, the time budget, an abort signal, or a non-finite loss (which names the step
 * and loss term and writes no checkpoint, so the last good one stays). Resuming restores
 * weights, optimizer state, schedule position, data position and random state, so a resumed
 * run computes the same weights as an uninterrupted one.
 */
export async function trainLoop<Batch>(options: TrainLoopOptions<Batch>): Promise<TrainOutcome> {
  const { trainer, maxIters, checkpoint, evaluation } = options;
  const hooks = options.hooks ?? [];
  let position: JsonValue | undefined;
  let elapsedBefore = 0;
  let best: TrainingState['best'];
  const lastBase = checkpoint ? join(checkpoint.directory, 'last') : undefined;
  if (checkpoint) await removeStaleTemporaries(checkpoint.directory);
  if (options.resume && lastBase && existsSync(checkpointFiles(lastBase).tensors)) {
    const saved = await readCheckpoint(lastBase);
    try {
      const state = restoreTraining(trainer, saved);
      position = state.dataPosition;
      elapsedBefore = state.elapsedSeconds;
      best = state.best;
    } finally {
      disposeCheckpoint(saved);
    }
  }
  const resumedFrom = trainer.iteration;
  const sessionStart = performance.now();
  const sessionSeconds = () => (performance.now() - sessionStart) / 1000;
  const context = {
    trainer,
    maxIters,
    get elapsedSeconds() {
      return elapsedBefore + sessionSeconds();
    },
  };
  const state = (): TrainingState => ({
    iteration: trainer.iteration,
    dataPosition: position ?? null,
    ...(trainer.model.randomState ? { modelRandomState: trainer.model.randomState() } : {}),
    elapsedSeconds: context.elapsedSeconds,
    optimizer: { ...options.optimizerOptions, step: trainer.optimizer.stepCount },
    schedule: trainer.schedule,
    ...(best ? { best } : {}),
  });
  const save = async (kind: CheckpointKind): Promise<void> => {
    if (!checkpoint) return;
    const base = join(checkpoint.directory, kind);
    await saveCheckpoint(base, {
      parameters: trainer.model.parameters,
      optimizer: trainer.optimizer.state(),
      state: state(),
      ...(checkpoint.config !== undefined ? { config: checkpoint.config } : {}),
    });
    for (const hook of hooks) hook.afterCheckpoint?.(context, checkpointFiles(base).tensors, kind);
  };
  let lastMetrics: Record<string, number> | undefined;
  const evaluate = async (): Promise<void> => {
    if (!evaluation) return;
    for (const hook of hooks) await hook.beforeEval?.(context);
    const metrics = await evaluation.evaluate(context);
    lastMetrics = metrics;
    for (const hook of hooks) await hook.afterEval?.(context, metrics);
    const metric = evaluation.bestMetric;
    const value = metric === undefined ? undefined : metrics[metric];
    if (metric !== undefined && value !== undefined && Number.isFinite(value)) {
      if (!best || value > best.value) {
        best = { metric, value, iteration: trainer.iteration };
        await save('best');
      }
    }
  };

  let stopped: TrainOutcome['stopped'] = 'data-exhausted';
  let lastLosses: Record<string, number> | undefined;
  let nonFinite: TrainOutcome['nonFinite'];
  const outOfTime = () =>
    options.timeBudgetSeconds !== undefined && sessionSeconds() >= options.timeBudgetSeconds;
  if (trainer.iteration >= maxIters) stopped = 'max-iters';
  else if (options.signal?.aborted) stopped = 'interrupted';
  else {
    let cycleStart = performance.now();
    for await (const item of options.data.batches(position)) {
      for (const hook of hooks) await hook.beforeStep?.(context);
      const stepStart = performance.now();
      let result: TrainStepResult;
      try {
        result = await trainer.stepAsync(item.batch);
      } finally {
        item.dispose();
      }
      const stepEnd = performance.now();
      lastLosses = result.losses;
      if (!result.finite) {
        const term = result.nonFiniteTerm ?? 'loss';
        const value = term === 'gradNorm' ? result.gradNorm : result.losses[term]!;
        nonFinite = {
          iteration: result.iteration,
          term,
          value,
          message: `non-finite ${term === 'gradNorm' ? 'gradient norm' : `loss term '${term}'`} (${value}) at iteration ${result.iteration}; stopped without a checkpoint, the last good one is kept`,
        };
        stopped = 'non-finite-loss';
        break;
      }
      position = item.next;
      const report: StepReport = {
        ...result,
        stepSeconds: (stepEnd - stepStart) / 1000,
        cycleSeconds: (stepEnd - cycleStart) / 1000,
        imagesPerSecond: item.size / ((stepEnd - cycleStart) / 1000),
        elapsedSeconds: context.elapsedSeconds,
        tensors: tf.memory().numTensors,
        heapBytes: process.memoryUsage().heapUsed,
      };
      for (const hook of hooks) await hook.afterStep?.(context, report);
      const done = trainer.iteration >= maxIters;
      const timeUp = !done && outOfTime();
      const interrupted = !done && !timeUp && options.signal?.aborted === true;
      const stopping = done || timeUp || interrupted;
      if (evaluation && evaluation.interval > 0 && trainer.iteration % evaluation.interval === 0)
        await evaluate();
      else if (evaluation && (done || timeUp)) await evaluate();
      if (stopping || (checkpoint && trainer.iteration % checkpoint.interval === 0))
        await save('last');
      if (stopping) {
        stopped = done ? 'max-iters' : timeUp ? 'time-budget' : 'interrupted';
        break;
      }
      cycleStart = performance.now();
    }
  }
  const outcome: TrainOutcome = {
    iterations: trainer.iteration,
    stopped,
    resumedFrom,
    lastLosses,
    lastMetrics,
    best,
    seconds: sessionSeconds(),
    elapsedSeconds: context.elapsedSeconds,
    ...(nonFinite ? { nonFinite } : {}),
  };
  for (const hook of hooks) await hook.afterTraining?.(context, outcome);
  return outcome;
}
