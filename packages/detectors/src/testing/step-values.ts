import * as tf from '@tensorflow/tfjs-core';
import type { Detector, DetectorBatch } from '../detector';

/** One training step's numbers: each named loss and each trainable parameter's gradient. */
export interface StepValues {
  losses: Record<string, number>;
  gradients: Record<string, Float32Array>;
}

/**
 * The losses and gradients of one step, as `@det/train`'s Trainer computes them: `one-pass`
 * calls `losses(batch)` inside the gradient closure (reads back synchronously: wasm, cpu);
 * `two-phase` awaits `prepareLosses(batch)` first and hands its result to a closure that reads
 * nothing back (webgpu). Every value is read with `await data()`; nothing is left allocated.
 */
export async function stepValues(
  detector: Detector,
  batch: DetectorBatch,
  mode: 'one-pass' | 'two-phase',
): Promise<StepValues> {
  const entries = detector.parameters.entries().filter((entry) => entry.variable.trainable);
  const prepared = mode === 'two-phase' ? await detector.prepareLosses!(batch) : undefined;
  let record: Record<string, tf.Scalar> = {};
  let grads: tf.NamedTensorMap;
  let value: tf.Scalar;
  try {
    ({ value, grads } = tf.variableGrads(
      () => {
        const losses = detector.losses(batch, prepared);
        record = Object.fromEntries(
          Object.entries(losses).map(([name, loss]) => [name, tf.keep(loss)]),
        );
        return Object.values(losses).reduce((a, b) => tf.add(a, b)) as tf.Scalar;
      },
      entries.map((entry) => entry.variable),
    ));
  } finally {
    prepared?.dispose();
  }
  const losses: Record<string, number> = {};
  for (const [name, loss] of Object.entries(record)) losses[name] = (await loss.data())[0]!;
  const gradients: Record<string, Float32Array> = {};
  for (const entry of entries) {
    const gradient = grads[entry.variable.name];
    if (gradient) gradients[entry.name] = (await gradient.data()) as Float32Array;
  }
  tf.dispose([value, ...Object.values(grads), ...Object.values(record)]);
  return { losses, gradients };
}

/**
 * The worst gradient error of `actual` against `expected`, parameter by parameter, as a
 * fraction of a scale: max |a − e| over a parameter ÷ (that parameter's max |e| + the whole
 * model's max |e| × `modelShare`). The model term keeps parameters whose gradient is a sum that
 * nearly cancels (a zero-initialised residual BN's γ) from counting float noise as error; a
 * wrong gradient of any parameter that matters is still off by far more. NaN is infinite.
 */
export function worstGradientError(
  actual: StepValues,
  expected: StepValues,
  modelShare = 0.01,
): { parameter: string; error: number } {
  let modelScale = 0;
  for (const want of Object.values(expected.gradients)) {
    for (const value of want) modelScale = Math.max(modelScale, Math.abs(value));
  }
  let worst = { parameter: '', error: 0 };
  for (const [name, want] of Object.entries(expected.gradients)) {
    const got = actual.gradients[name];
    if (!got || got.length !== want.length)
      return { parameter: name, error: Number.POSITIVE_INFINITY };
    let scale = modelShare * modelScale + 1e-12;
    let error = 0;
    for (let i = 0; i < want.length; i++) {
      const difference = Math.abs(got[i]! - want[i]!);
      error = Number.isNaN(difference) ? Number.POSITIVE_INFINITY : Math.max(error, difference);
    }
    for (const value of want) scale = Math.max(scale, Math.abs(value) + modelShare * modelScale);
    if (error / scale > worst.error) worst = { parameter: name, error: error / scale };
  }
  if (Object.keys(actual.gradients).length !== Object.keys(expected.gradients).length) {
    return { parameter: '(parameter count)', error: Number.POSITIVE_INFINITY };
  }
  return worst;
}
