import { hasSyncReadback } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { clipFlatGradient } from './clip';
import { flatten, layoutOf } from './flat';
import type { Optimizer } from './optimizer';
import { learningRateAt, type ScheduleOptions } from './schedule';
import type { PreparedStep, Trainable } from './trainable';

/** One forward-backward pass of a step, before its values are read back. */
interface Pass {
  entries: { name: string; variable: tf.Variable }[];
  record: Record<string, tf.Scalar>;
  names: string[];
  value: tf.Scalar;
  norm: tf.Scalar;
  layout: ReturnType<typeof layoutOf>;
  /** All clipped gradients as one vector (undefined when no parameter has one). */
  gradient: tf.Tensor1D | undefined;
  packed: tf.Tensor;
}

export interface TrainStepResult {
  /** Iteration this step ran as (0-based). */
  iteration: number;
  /** Each named loss and `loss` (their sum). */
  losses: Record<string, number>;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  learningRate: number;
  /** false: a loss or the gradient norm was NaN/∞ and no parameter was changed. */
  finite: boolean;
  /** The first non-finite loss term (`gradNorm` when only the gradients were), if any. */
  nonFiniteTerm?: string;
}

export interface TrainerOptions<Batch> {
  model: Trainable<Batch>;
  optimizer: Optimizer;
  schedule: ScheduleOptions;
  /** Global gradient-norm clip (≤ 0: none). */
  gradClipNorm: number;
}

/**
 * One optimisation step at a time: forward + named losses, gradients of their sum, global-norm
 * clipping, the optimizer at the scheduled rate. Reads back only the losses and the gradient
 * norm (one transfer) and applies no update when one is not finite.
 */
export class Trainer<Batch> {
  readonly model: Trainable<Batch>;
  readonly optimizer: Optimizer;
  readonly schedule: ScheduleOptions;
  readonly gradClipNorm: number;
  /** Iterations completed (the schedule position). */
  iteration = 0;

  constructor(options: TrainerOptions<Batch>) {
    this.model = options.model;
    this.optimizer = options.optimizer;
    this.schedule = options.schedule;
    this.gradClipNorm = options.gradClipNorm;
  }

  step(batch: Batch): TrainStepResult {
    const pass = this.forwardBackward(batch, undefined);
    return this.finish(pass, pass.packed.dataSync());
  }

  /**
   * `step` for any backend. Where tensors cannot be read back synchronously (webgpu), or with
   * `twoPhase: true`, it runs in two phases: the model's async `prepareLosses` (targets,
   * samples, proposals, with awaited reads), then a gradient closure that reads nothing back,
   * and one awaited read of the losses and gradient norm. Elsewhere it is `step`.
   */
  async stepAsync(batch: Batch, options: { twoPhase?: boolean } = {}): Promise<TrainStepResult> {
    const twoPhase = options.twoPhase ?? !hasSyncReadback(tf.getBackend());
    if (!twoPhase) return this.step(batch);
    if (!this.model.prepareLosses) {
      throw new Error(
        `Trainer.stepAsync: the model has no prepareLosses, which a two-phase step (backend '${tf.getBackend()}') needs`,
      );
    }
    const prepared = await this.model.prepareLosses(batch);
    try {
      const pass = this.forwardBackward(batch, prepared);
      return this.finish(pass, await pass.packed.data());
    } finally {
      prepared.dispose();
    }
  }

  /** Forward, losses and clipped gradients; `packed` = [loss, norm, ...named losses]. */
  private forwardBackward(batch: Batch, prepared: PreparedStep | undefined): Pass {
    const entries = this.model.parameters.entries().filter((entry) => entry.variable.trainable);
    let record: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(
      () => {
        const losses = this.model.losses(batch, prepared);
        record = Object.fromEntries(
          Object.entries(losses).map(([name, loss]) => [name, tf.keep(loss)]),
        );
        // tf.addN's gradient is broken on this tfjs build (null dy), so sum pairwise.
        return Object.values(losses).reduce((a, b) => tf.add(a, b)) as tf.Scalar;
      },
      entries.map((entry) => entry.variable),
    );
    // All gradients as one vector in the parameters' order: clipping and the optimizer then
    // run a few kernels over it instead of a few per parameter.
    const withGradient = entries.filter((entry) => grads[entry.variable.name] !== undefined);
    const tensors = withGradient.map((entry) => grads[entry.variable.name]!);
    const layout = layoutOf(
      withGradient.map((entry) => entry.name),
      tensors,
    );
    const flat = tensors.length > 0 ? flatten(tensors) : undefined;
    tf.dispose(Object.values(grads));
    const { gradient, norm } = flat
      ? clipFlatGradient(flat, this.gradClipNorm)
      : { gradient: undefined, norm: tf.scalar(0) };
    flat?.dispose();
    const names = Object.keys(record);
    const packed = tf.tidy(() => tf.stack([value, norm, ...names.map((name) => record[name]!)]));
    return { entries, record, names, value, norm, layout, gradient, packed };
  }

  /** Applies the update when everything is finite; frees the pass. */
  private finish(pass: Pass, values: ArrayLike<number>): TrainStepResult {
    const { entries, record, names, value, norm, layout, gradient, packed } = pass;
    const learningRate = learningRateAt(this.schedule, this.iteration);
    const losses: Record<string, number> = { loss: values[0]! };
    names.forEach((name, index) => {
      losses[name] = values[index + 2]!;
    });
    const gradNorm = values[1]!;
    const nonFiniteTerm =
      names.find((name) => !Number.isFinite(losses[name])) ??
      (Number.isFinite(losses.loss) ? undefined : 'loss') ??
      (Number.isFinite(gradNorm) ? undefined : 'gradNorm');
    const finite = nonFiniteTerm === undefined;
    if (finite) {
      this.optimizer.stepFlat(
        new Map(entries.map((entry) => [entry.name, entry.variable])),
        layout,
        gradient,
        learningRate,
      );
    }
    tf.dispose([packed, value, norm, ...(gradient ? [gradient] : [])]);
    tf.dispose(Object.values(record));
    const result: TrainStepResult = {
      iteration: this.iteration,
      losses,
      gradNorm,
      learningRate,
      finite,
      ...(nonFiniteTerm ? { nonFiniteTerm } : {}),
    };
    if (finite) this.iteration += 1;
    return result;
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
