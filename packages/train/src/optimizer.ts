import * as tf from '@tensorflow/tfjs-core';

/** The optimizers the engine knows; the name a checkpoint stores them under. */
export type OptimizerKind = 'sgd' | 'adamw';

/**
 * An optimizer's resumable state under PyTorch's names: per-parameter slots
 * (`momentum_buffer`; `exp_avg`, `exp_avg_sq`) keyed `<slot>.<parameter>`, and the step count.
 */
export interface OptimizerState {
  kind: OptimizerKind;
  /** Steps applied so far (AdamW's bias correction reads it). */
  step: number;
  /** `<slot>.<parameter name>` → tensor (the optimizer keeps ownership). */
  slots: ReadonlyMap<string, tf.Tensor>;
}

/**
 * What SGD and AdamW share: per-parameter slot variables created on first use, one tidy scope
 * per step, a step counter, and state export/import by name for checkpoints.
 */
export abstract class Optimizer {
  abstract readonly kind: OptimizerKind;
  /** The slot names this optimizer keeps per parameter, e.g. `['momentum_buffer']`. */
  abstract readonly slotNames: readonly string[];
  /** Steps applied. */
  stepCount = 0;
  private readonly slotVariables = new Map<string, tf.Variable>();

  /**
   * One update of every variable that has a gradient (same names) at `learningRate`.
   * Gradients stay owned by the caller.
   */
  step(
    variables: ReadonlyMap<string, tf.Variable>,
    gradients: Readonly<Record<string, tf.Tensor>>,
    learningRate: number,
  ): void {
    this.stepCount += 1;
    tf.tidy(() => {
      for (const [name, variable] of variables) {
        const gradient = gradients[name];
        if (gradient) this.update({ name, variable, gradient, learningRate });
      }
    });
  }

  /** Updates one parameter in place (runs inside the step's tidy scope). */
  protected abstract update(options: {
    name: string;
    variable: tf.Variable;
    gradient: tf.Tensor;
    learningRate: number;
  }): void;

  /** The slot variable `<slot>.<parameter>`, or undefined before its first step. */
  protected existingSlot(slot: string, parameter: string): tf.Variable | undefined {
    return this.slotVariables.get(`${slot}.${parameter}`);
  }

  /** Creates slot `<slot>.<parameter>` holding a copy of `initial`. */
  protected createSlot(slot: string, parameter: string, initial: tf.Tensor): tf.Variable {
    const variable = tf.variable(initial, false);
    this.slotVariables.set(`${slot}.${parameter}`, variable);
    return variable;
  }

  state(): OptimizerState {
    return { kind: this.kind, step: this.stepCount, slots: this.slotVariables };
  }

  /** Restores a state saved by the same kind (copies; the caller keeps its tensors). */
  loadState(state: OptimizerState): void {
    if (state.kind !== this.kind) {
      throw new Error(
        `optimizer state is for '${state.kind}', this optimizer is '${this.kind}' (train.optimizer changed since the checkpoint?)`,
      );
    }
    for (const key of state.slots.keys()) {
      const slot = key.slice(0, key.indexOf('.'));
      if (!this.slotNames.includes(slot)) {
        throw new Error(
          `optimizer state entry '${key}': ${this.kind} keeps ${this.slotNames.join(', ')}`,
        );
      }
    }
    this.dispose();
    this.stepCount = state.step;
    // A variable shares the tensor's data by reference count: the caller may dispose its copy.
    for (const [key, tensor] of state.slots)
      this.slotVariables.set(key, tf.variable(tensor, false));
  }

  dispose(): void {
    for (const variable of this.slotVariables.values()) variable.dispose();
    this.slotVariables.clear();
    this.stepCount = 0;
  }
}

export interface SgdOptions {
  /** Momentum μ (0: plain SGD, no buffer). */
  momentum: number;
  /** L2 weight decay added to the gradient (coupled, as torch.optim.SGD). */
  weightDecay: number;
}

/**
 * `torch.optim.SGD` with momentum (dampening 0, no Nesterov): `g += wd·p`;
 * `buf = μ·buf + g` (`buf = g` on the first step); `p −= lr·buf`.
 */
export class Sgd extends Optimizer {
  readonly kind = 'sgd' as const;
  readonly slotNames = ['momentum_buffer'] as const;
  readonly options: SgdOptions;

  constructor(options: SgdOptions) {
    super();
    this.options = options;
  }

  protected update({
    name,
    variable,
    gradient,
    learningRate,
  }: Parameters<Optimizer['update']>[0]): void {
    const { momentum, weightDecay } = this.options;
    const decayed = weightDecay > 0 ? tf.add(gradient, tf.mul(variable, weightDecay)) : gradient;
    let direction = decayed;
    if (momentum > 0) {
      const buffer = this.existingSlot('momentum_buffer', name);
      if (buffer) buffer.assign(tf.add(tf.mul(buffer, momentum), decayed));
      direction = buffer ?? this.createSlot('momentum_buffer', name, decayed);
    }
    variable.assign(tf.sub(variable, tf.mul(direction, learningRate)));
  }
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay (Loshchilov & Hutter 2019): `p ← p·(1 − lr·λ)` before the step. */
  weightDecay: number;
}

/**
 * `torch.optim.AdamW` (amsgrad off): `p ← p(1 − lr·λ)`; `m ← β1 m + (1 − β1) g`;
 * `v ← β2 v + (1 − β2) g²`; `p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)`.
 * Adaptive steps let the tiny from-scratch CPU presets learn in a few hundred iterations.
 */
export class AdamW extends Optimizer {
  readonly kind = 'adamw' as const;
  readonly slotNames = ['exp_avg', 'exp_avg_sq'] as const;
  readonly options: AdamWOptions;

  constructor(options: AdamWOptions) {
    super();
    this.options = options;
  }

  protected update({
    name,
    variable,
    gradient,
    learningRate,
  }: Parameters<Optimizer['update']>[0]): void {
    const { beta1, beta2, epsilon, weightDecay } = this.options;
    const t = this.stepCount;
    const average =
      this.existingSlot('exp_avg', name) ??
      this.createSlot('exp_avg', name, tf.zerosLike(variable));
    const averageSquare =
      this.existingSlot('exp_avg_sq', name) ??
      this.createSlot('exp_avg_sq', name, tf.zerosLike(variable));
    average.assign(tf.add(tf.mul(average, beta1), tf.mul(gradient, 1 - beta1)));
    averageSquare.assign(
      tf.add(tf.mul(averageSquare, beta2), tf.mul(tf.square(gradient), 1 - beta2)),
    );
    const stepSize = learningRate / (1 - beta1 ** t);
    const denominator = tf.add(tf.div(tf.sqrt(averageSquare), Math.sqrt(1 - beta2 ** t)), epsilon);
    const decayed = weightDecay > 0 ? tf.mul(variable, 1 - learningRate * weightDecay) : variable;
    variable.assign(tf.sub(decayed, tf.mul(tf.div(average, denominator), stepSize)));
  }
}

/** Which optimizer and its hyperparameters (what a checkpoint records beside the state). */
export type OptimizerOptions = ({ kind: 'sgd' } & SgdOptions) | ({ kind: 'adamw' } & AdamWOptions);

export function createOptimizer(options: OptimizerOptions): Optimizer {
  return options.kind === 'sgd' ? new Sgd(options) : new AdamW(options);
}
