import * as tf from '@tensorflow/tfjs-core';
import { type FlatLayout, flatten, layoutOf, sameLayout, unflatten } from './flat';

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

/** A parameter's slot values by slot name (`momentum_buffer`, `exp_avg`, ...). */
export type Slots = Readonly<Record<string, tf.Tensor>>;

/**
 * What SGD and AdamW share: slot state created on first use, a step counter, and state
 * export/import under PyTorch's per-parameter names for checkpoints.
 *
 * The slots of all parameters live in one flat variable per slot name, laid out as the
 * parameters that had gradients; a step concatenates the parameters (one kernel), applies the
 * elementwise update once over the whole vector and cuts the result back (one split, or one
 * read on host-memory backends), so the update costs a handful of kernels instead of a handful
 * per parameter. Elementwise arithmetic is the same on the vector as on each parameter, so the
 * numbers are the same bits.
 */
export abstract class Optimizer {
  abstract readonly kind: OptimizerKind;
  /** The slot names this optimizer keeps per parameter, e.g. `['momentum_buffer']`. */
  abstract readonly slotNames: readonly string[];
  /** Steps applied. */
  stepCount = 0;
  /** Every parameter's slots: one flat variable per slot name, in `layout` order. */
  private flatSlots: { layout: FlatLayout; values: Map<string, tf.Variable> } | undefined;
  /** Per-parameter slot tensors handed out by `state()` (valid until the next change). */
  private exported: Map<string, tf.Tensor> | undefined;

  /**
   * One update of every variable that has a gradient (same names) at `learningRate`.
   * Gradients stay owned by the caller.
   */
  step(
    variables: ReadonlyMap<string, tf.Variable>,
    gradients: Readonly<Record<string, tf.Tensor>>,
    learningRate: number,
  ): void {
    const names = [...variables.keys()].filter((name) => gradients[name] !== undefined);
    const tensors = names.map((name) => gradients[name]!);
    const flat = tensors.length > 0 ? flatten(tensors) : undefined;
    try {
      this.stepFlat(variables, layoutOf(names, tensors), flat, learningRate);
    } finally {
      flat?.dispose();
    }
  }

  /**
   * One update from gradients already concatenated in `layout` order (`gradient` `[total]`,
   * owned by the caller; undefined when no parameter has one).
   */
  stepFlat(
    variables: ReadonlyMap<string, tf.Variable>,
    layout: FlatLayout,
    gradient: tf.Tensor1D | undefined,
    learningRate: number,
  ): void {
    this.stepCount += 1;
    if (!gradient || layout.names.length === 0) return;
    const parameters = layout.names.map((name) => {
      const variable = variables.get(name);
      if (!variable) throw new Error(`optimizer: gradient for '${name}', which is no variable`);
      return variable;
    });
    this.dropExported();
    tf.tidy(() => {
      const current = this.flatSlots;
      if (!current || sameLayout(current.layout, layout)) {
        const slots = current ? Object.fromEntries(current.values) : undefined;
        const next = this.update(flatten(parameters), gradient, slots, learningRate);
        unflatten(next.parameter, layout).forEach((value, index) => {
          parameters[index]!.assign(value);
        });
        this.storeFlat(layout, next.slots);
        return;
      }
      // The parameters with gradients differ from the slots' layout (a parameter without a
      // gradient this step, or a state loaded in another order): update parameter by
      // parameter, then lay the slots out again in the variables' order.
      const byParameter = this.slotsByParameter();
      const gradients = unflatten(gradient, layout);
      layout.names.forEach((name, index) => {
        const next = this.update(
          parameters[index]!,
          gradients[index]!,
          byParameter.get(name),
          learningRate,
        );
        parameters[index]!.assign(next.parameter);
        byParameter.set(name, next.slots);
      });
      const order = [
        ...[...variables.keys()].filter((name) => byParameter.has(name)),
        ...[...byParameter.keys()].filter((name) => !variables.has(name)),
      ];
      this.storePerParameter(order, byParameter);
    });
  }

  /**
   * The new parameter and slot values from the current ones (elementwise, so `parameter` may be
   * one parameter or all of them end to end; runs inside the step's tidy scope). `slots` is
   * undefined on a parameter's first step.
   */
  protected abstract update(
    parameter: tf.Tensor,
    gradient: tf.Tensor,
    slots: Slots | undefined,
    learningRate: number,
  ): { parameter: tf.Tensor; slots: Slots };

  /** Keeps `slots` (values over `layout`) as the flat slot variables. */
  private storeFlat(layout: FlatLayout, slots: Slots): void {
    const names = Object.keys(slots);
    if (names.length === 0) return;
    const current = this.flatSlots;
    if (current && sameLayout(current.layout, layout)) {
      for (const name of names) current.values.get(name)!.assign(slots[name]!);
      return;
    }
    this.disposeSlots();
    const values = new Map(names.map((name) => [name, tf.variable(slots[name]!, false)]));
    this.flatSlots = { layout, values };
  }

  /** Lays per-parameter slots out flat in `order`. */
  private storePerParameter(order: readonly string[], byParameter: Map<string, Slots>): void {
    tf.tidy(() => {
      const perParameter = order.map((name) => byParameter.get(name)!);
      const slotNames = Object.keys(perParameter[0] ?? {});
      this.disposeSlots();
      if (slotNames.length === 0) return;
      const layout = layoutOf(
        order,
        perParameter.map((slots) => slots[slotNames[0]!]!),
      );
      const flat: Record<string, tf.Tensor> = {};
      for (const slot of slotNames) {
        flat[slot] = flatten(
          perParameter.map((slots, index) => {
            const value = slots[slot];
            if (!value) throw new Error(`optimizer state: no '${slot}.${order[index]}'`);
            return value;
          }),
        );
      }
      this.storeFlat(layout, flat);
    });
  }

  /** Each parameter's slots cut out of the flat variables (inside a tidy scope). */
  private slotsByParameter(): Map<string, Slots> {
    const byParameter = new Map<string, Slots>();
    const current = this.flatSlots;
    if (!current) return byParameter;
    const parts = [...current.values].map(
      ([slot, flat]) => [slot, unflatten(flat, current.layout)] as const,
    );
    current.layout.names.forEach((name, index) => {
      byParameter.set(
        name,
        Object.fromEntries(parts.map(([slot, values]) => [slot, values[index]!])),
      );
    });
    return byParameter;
  }

  /**
   * The resumable state: slots as `<slot>.<parameter>` tensors in their parameters' shapes.
   * The optimizer owns them; they stay valid until its next step, `loadState` or `dispose`.
   */
  state(): OptimizerState {
    if (!this.exported) {
      const exported = new Map<string, tf.Tensor>();
      tf.tidy(() => {
        for (const [name, slots] of this.slotsByParameter())
          for (const slot of this.slotNames)
            if (slots[slot]) exported.set(`${slot}.${name}`, tf.keep(slots[slot]));
      });
      this.exported = exported;
    }
    return { kind: this.kind, step: this.stepCount, slots: this.exported };
  }

  /** Restores a state saved by the same kind (copies; the caller keeps its tensors). */
  loadState(state: OptimizerState): void {
    if (state.kind !== this.kind) {
      throw new Error(
        `optimizer state is for '${state.kind}', this optimizer is '${this.kind}' (train.optimizer changed since the checkpoint?)`,
      );
    }
    const byParameter = new Map<string, Record<string, tf.Tensor>>();
    for (const [key, tensor] of state.slots) {
      const slot = key.slice(0, key.indexOf('.'));
      if (!this.slotNames.includes(slot)) {
        throw new Error(
          `optimizer state entry '${key}': ${this.kind} keeps ${this.slotNames.join(', ')}`,
        );
      }
      const name = key.slice(slot.length + 1);
      byParameter.set(name, { ...byParameter.get(name), [slot]: tensor });
    }
    this.dispose();
    this.stepCount = state.step;
    this.storePerParameter([...byParameter.keys()], byParameter);
  }

  private dropExported(): void {
    if (this.exported) tf.dispose([...this.exported.values()]);
    this.exported = undefined;
  }

  private disposeSlots(): void {
    if (this.flatSlots) tf.dispose([...this.flatSlots.values.values()]);
    this.flatSlots = undefined;
  }

  dispose(): void {
    this.dropExported();
    this.disposeSlots();
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

  protected update(
    parameter: tf.Tensor,
    gradient: tf.Tensor,
    slots: Slots | undefined,
    learningRate: number,
  ): { parameter: tf.Tensor; slots: Slots } {
    const { momentum, weightDecay } = this.options;
    const decayed = weightDecay > 0 ? tf.add(gradient, tf.mul(parameter, weightDecay)) : gradient;
    if (momentum <= 0)
      return { parameter: tf.sub(parameter, tf.mul(decayed, learningRate)), slots: {} };
    const previous = slots?.momentum_buffer;
    const buffer = previous ? tf.add(tf.mul(previous, momentum), decayed) : decayed;
    return {
      parameter: tf.sub(parameter, tf.mul(buffer, learningRate)),
      slots: { momentum_buffer: buffer },
    };
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

  protected update(
    parameter: tf.Tensor,
    gradient: tf.Tensor,
    slots: Slots | undefined,
    learningRate: number,
  ): { parameter: tf.Tensor; slots: Slots } {
    const { beta1, beta2, epsilon, weightDecay } = this.options;
    const t = this.stepCount;
    const previousAverage = slots?.exp_avg ?? tf.zerosLike(parameter);
    const previousSquare = slots?.exp_avg_sq ?? tf.zerosLike(parameter);
    const average = tf.add(tf.mul(previousAverage, beta1), tf.mul(gradient, 1 - beta1));
    const averageSquare = tf.add(
      tf.mul(previousSquare, beta2),
      tf.mul(tf.square(gradient), 1 - beta2),
    );
    const stepSize = learningRate / (1 - beta1 ** t);
    const denominator = tf.add(tf.div(tf.sqrt(averageSquare), Math.sqrt(1 - beta2 ** t)), epsilon);
    const decayed = weightDecay > 0 ? tf.mul(parameter, 1 - learningRate * weightDecay) : parameter;
    return {
      parameter: tf.sub(decayed, tf.mul(tf.div(average, denominator), stepSize)),
      slots: { exp_avg: average, exp_avg_sq: averageSquare },
    };
  }
}

/** Which optimizer and its hyperparameters (what a checkpoint records beside the state). */
export type OptimizerOptions = ({ kind: 'sgd' } & SgdOptions) | ({ kind: 'adamw' } & AdamWOptions);

export function createOptimizer(options: OptimizerOptions): Optimizer {
  return options.kind === 'sgd' ? new Sgd(options) : new AdamW(options);
}
