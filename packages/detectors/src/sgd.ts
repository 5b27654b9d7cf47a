import * as tf from '@tensorflow/tfjs-core';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
}

/**
 * PyTorch's SGD (`torch.optim.SGD` with momentum, dampening 0, no Nesterov): `g += wd·p`;
 * `buf = μ·buf + g` (`buf = g` on the first step); `p −= lr·buf`. Momentum buffers are
 * named after their parameters so checkpoints can hold them.
 */
/** What the Trainer needs of an optimizer: named steps and a named state for checkpoints. */
export interface Optimizer {
  step(
    variables: ReadonlyMap<string, tf.Variable>,
    gradients: Record<string, tf.Tensor>,
    learningRate: number,
  ): void;
  state(): ReadonlyMap<string, tf.Tensor>;
  loadState(state: ReadonlyMap<string, tf.Tensor>): void;
  dispose(): void;
}

export class Sgd implements Optimizer {
  readonly options: SgdOptions;
  private readonly buffers = new Map<string, tf.Variable>();

  constructor(options: SgdOptions) {
    this.options = options;
  }

  /** Applies one step to `variables` (by name) with `gradients` (same names). */
  step(
    variables: ReadonlyMap<string, tf.Variable>,
    gradients: Record<string, tf.Tensor>,
    learningRate: number,
  ): void {
    const { momentum, weightDecay } = this.options;
    tf.tidy(() => {
      for (const [name, variable] of variables) {
        const gradient = gradients[name];
        if (!gradient) continue;
        const decayed =
          weightDecay > 0 ? tf.add(gradient, tf.mul(variable, weightDecay)) : gradient;
        let update = decayed;
        if (momentum > 0) {
          const buffer = this.buffers.get(name);
          if (buffer) {
            buffer.assign(tf.add(tf.mul(buffer, momentum), decayed));
            update = buffer;
          } else {
            const created = tf.variable(decayed, false);
            this.buffers.set(name, created);
            update = created;
          }
        }
        variable.assign(tf.sub(variable, tf.mul(update, learningRate)));
      }
    });
  }

  /** The momentum buffers by parameter name (for checkpoints). */
  state(): ReadonlyMap<string, tf.Variable> {
    return this.buffers;
  }

  /** Restores momentum buffers (copies; the caller keeps its tensors). */
  loadState(state: ReadonlyMap<string, tf.Tensor>): void {
    this.dispose();
    for (const [name, tensor] of state)
      this.buffers.set(name, tf.variable(tf.clone(tensor), false));
  }

  dispose(): void {
    for (const buffer of this.buffers.values()) buffer.dispose();
    this.buffers.clear();
  }
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (torch's
 * `clip_grad_norm_`, factor `maxNorm / (norm + 1e-6)` when smaller than 1). Returns the new
 * gradients and the norm before clipping as a scalar tensor (no readback).
 */
export function clipGradientNorm(
  gradients: Record<string, tf.Tensor>,
  maxNorm: number,
): { gradients: Record<string, tf.Tensor>; norm: tf.Scalar } {
  return tf.tidy(() => {
    const squares = Object.values(gradients).map((g) => tf.sum(tf.square(g)));
    const norm = tf.sqrt(squares.reduce((a, b) => tf.add(a, b), tf.scalar(0))) as tf.Scalar;
    if (!(maxNorm > 0))
      return {
        gradients: {
          ...Object.fromEntries(Object.entries(gradients).map(([k, g]) => [k, tf.clone(g)])),
        },
        norm,
      };
    const factor = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    return {
      gradients: Object.fromEntries(
        Object.entries(gradients).map(([name, g]) => [name, tf.mul(g, factor)]),
      ),
      norm,
    };
  });
}
