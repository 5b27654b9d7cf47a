import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `f` without recording on the gradient tape, as PyTorch's `torch.no_grad()`: for target
 * computation (assignment, sampling) that runs inside a loss closure. Its ops' outputs are
 * constants to the tape: no tape nodes, none of the copies (`Identity` kernels) the tape keeps
 * of each op's inputs for backprop, and no gradient flows through them.
 *
 * tfjs records only while its kernel depth is 0 — ops run inside a kernel, e.g. a custom
 * gradient's forward function, are not recorded — and this raises the depth the same way.
 */
export function untaped<T>(f: () => T): T {
  const { state } = tf.engine() as unknown as { state: { kernelDepth?: unknown } };
  if (typeof state.kernelDepth !== 'number') {
    throw new Error(
      'untaped: the tfjs engine keeps no kernelDepth (tfjs changed; see @det/core untaped)',
    );
  }
  state.kernelDepth += 1;
  try {
    return f();
  } finally {
    (state as { kernelDepth: number }).kernelDepth -= 1;
  }
}
