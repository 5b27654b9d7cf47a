import * as tf from '@tensorflow/tfjs-core';
import { Adam } from './adam';
import { type Checkpoint, loadParameters, saveCheckpoint, type TrainingState } from './checkpoint';
import type { TrainConfig } from './config';
import type { Detector, DetectorBatch } from './detector';
import { learningRateAt } from './schedule';
import { clipGradientNorm, type Optimizer, Sgd } from './sgd';

export interface TrainStepResult {
  /** Iteration this step ran as (0-based). */
  iteration: number;
  /** Each named loss and `loss` (their sum). */
  losses: Record<string, number>;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  learningRate: number;
  /** false: some loss was NaN/∞ and the parameters were left untouched. */
  finite: boolean;
}

/**
 * One optimisation step at a time: forward + named losses, gradients, global-norm
 * clipping, SGD with momentum and weight decay at the scheduled learning rate. Reads back
 * only the loss values and the gradient norm (one readback), and applies no update when a
 * loss is not finite.
 */
export class Trainer {
  readonly detector: Detector;
  readonly config: TrainConfig;
  readonly optimizer: Optimizer;
  /** Iterations completed. */
  iteration = 0;

  constructor(options: { detector: Detector; config?: TrainConfig }) {
    this.detector = options.detector;
    this.config = options.config ?? options.detector.config.train;
    this.optimizer =
      this.config.optimizer === 'adam'
        ? new Adam({
            beta1: this.config.adamBetas[0],
            beta2: this.config.adamBetas[1],
            epsilon: 1e-8,
            weightDecay: this.config.weightDecay,
          })
        : new Sgd({ momentum: this.config.momentum, weightDecay: this.config.weightDecay });
  }

  step(batch: DetectorBatch): TrainStepResult {
    const learningRate = learningRateAt(this.config, this.iteration);
    const entries = this.detector.parameters.entries().filter((entry) => entry.variable.trainable);
    const byVariable = new Map(entries.map((entry) => [entry.variable.name, entry.name]));
    let record: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(
      () => {
        const losses = this.detector.losses(batch);
        record = Object.fromEntries(
          Object.entries(losses).map(([name, loss]) => [name, tf.keep(loss)]),
        );
        // tf.addN's gradient is broken on this tfjs build (null dy), so sum pairwise.
        return Object.values(losses).reduce((a, b) => tf.add(a, b)) as tf.Scalar;
      },
      entries.map((entry) => entry.variable),
    );
    const named: Record<string, tf.Tensor> = {};
    for (const [variableName, gradient] of Object.entries(grads))
      named[byVariable.get(variableName)!] = gradient;
    const { gradients, norm } = clipGradientNorm(named, this.config.gradClipNorm);
    const names = Object.keys(record);
    const packed = tf.tidy(() => tf.stack([value, norm, ...names.map((name) => record[name]!)]));
    const values = packed.dataSync();
    const total = values[0]!;
    const losses: Record<string, number> = { loss: total };
    names.forEach((name, i) => {
      losses[name] = values[i + 2]!;
    });
    const finite = Object.values(losses).every(Number.isFinite);
    if (finite) {
      this.optimizer.step(
        new Map(entries.map((entry) => [entry.name, entry.variable])),
        gradients,
        learningRate,
      );
    }
    tf.dispose([
      packed,
      value,
      norm,
      ...Object.values(grads),
      ...Object.values(gradients),
      ...Object.values(record),
    ]);
    const result = {
      iteration: this.iteration,
      losses,
      gradNorm: values[1]!,
      learningRate,
      finite,
    };
    if (finite) this.iteration += 1;
    return result;
  }

  /** Saves model, momentum and schedule position (plus the data position) atomically. */
  save(path: string, dataPosition: TrainingState['dataPosition']): Promise<void> {
    return saveCheckpoint(path, {
      detector: this.detector,
      optimizer: this.optimizer,
      state: { iteration: this.iteration, dataPosition },
    });
  }

  /** Restores model, momentum and iteration from a checkpoint; returns the data position to resume from. */
  restore(checkpoint: Checkpoint): TrainingState['dataPosition'] {
    loadParameters(this.detector, checkpoint);
    this.optimizer.loadState(checkpoint.momentum);
    this.iteration = checkpoint.state.iteration;
    return checkpoint.state.dataPosition;
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
