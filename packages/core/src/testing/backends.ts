import * as tf from '@tensorflow/tfjs-core';
import { registerGradientOverrides } from '../backend/gradient-overrides';

/**
 * Runs `run` on another backend of this process (`wasm` or `cpu`) and switches back: the
 * reference side of the webgpu parity suites. The reference backend's gradient overrides are
 * registered as `initBackend` would register them (tfjs keeps one gradient per kernel for every
 * backend, so from then on they hold on the tested backend too — as they must).
 */
export async function onBackend<T>(name: 'wasm' | 'cpu', run: () => Promise<T>): Promise<T> {
  if (!tf.findBackend(name)) {
    if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
    else await import('@tensorflow/tfjs-backend-cpu');
  }
  const previous = tf.getBackend();
  if (!(await tf.setBackend(name))) throw new Error(`onBackend: the ${name} backend did not start`);
  registerGradientOverrides(name);
  try {
    return await run();
  } finally {
    await tf.setBackend(previous);
  }
}
