import type * as tf from '@tensorflow/tfjs-core';

/**
 * Host code that needs tensor values, written once for both kinds of backend: a generator
 * that `yield`s each tensor it must read and receives its values. `readSync` drives it with
 * `dataSync` (wasm, cpu, tfjs-node: host memory, a read is free); `readAsync` with
 * `await data()` — the only read webgpu in Node has (its synchronous read draws through an
 * OffscreenCanvas, which Node lacks). A training step runs these in an async prepare phase
 * on webgpu, so its gradient closure reads nothing back.
 */
export type Reads<T> = Generator<tf.Tensor, T, tf.TypedArray>;

/** Runs `steps`, reading each yielded tensor with `dataSync`. */
export function readSync<T>(steps: Reads<T>): T {
  let next = steps.next();
  while (!next.done) {
    let values: tf.TypedArray;
    try {
      values = next.value.dataSync() as tf.TypedArray;
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(values);
  }
  return next.value;
}

/** Runs `steps`, reading each yielded tensor with `await data()` (no synchronous read). */
export async function readAsync<T>(steps: Reads<T>): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    let values: tf.TypedArray;
    try {
      values = (await next.value.data()) as tf.TypedArray;
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(values);
  }
  return next.value;
}

/** Backends whose tensors live in host memory: a synchronous read is free there. */
const hostMemoryBackends = new Set(['wasm', 'cpu', 'tensorflow']);

/**
 * Whether the active backend can read tensors back synchronously. false on webgpu (and any
 * backend det does not know): a training step must then prepare its data-dependent targets
 * asynchronously before the gradient closure.
 */
export function hasSyncReadback(backend: string): boolean {
  return hostMemoryBackends.has(backend);
}
