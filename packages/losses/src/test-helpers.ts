import { expectClose as expectCloseShared } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/** Values of a tensor, disposing it. */
export function values(x: tf.Tensor): number[] {
  const data = Array.from(x.dataSync());
  x.dispose();
  return data;
}

/**
 * The shared NaN-safe comparison (`@det/core/testing`) with this package's default for
 * hand-derived values: |actual − expected| ≤ 1e-5 + 1e-4·|expected|.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-4, atol = 1e-5, label = '' } = {},
): void {
  expectCloseShared(actual, expected, { rtol, atol, label });
}

export function expectAllFinite(data: ArrayLike<number>, label = ''): void {
  for (let i = 0; i < data.length; i += 1) {
    if (!Number.isFinite(data[i])) expect.fail(`${label}[${i}] is ${data[i]}`);
  }
}

/** Value and gradient of `f` at `x`, both read back; checks nothing leaked. */
export function valueAndGradient(
  f: (x: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
): { value: number[]; gradient: number[] } {
  const before = tf.memory().numTensors;
  const value = values(f(x));
  const gradient = values(tf.grad((input: tf.Tensor) => tf.sum(f(input)))(x));
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return { value, gradient };
}

/**
 * Compares tf.grad of the scalar `f` with central differences of step `step` (float32: keep
 * the points away from kinks). Tolerance is relative to the largest gradient entry.
 */
export function checkGradient(
  f: (x: tf.Tensor) => tf.Tensor,
  point: number[],
  shape: number[],
  { step = 1e-2, rtol = 1e-2 } = {},
): void {
  const x = tf.tensor(point, shape, 'float32');
  const analytic = values(tf.grad((input: tf.Tensor) => tf.sum(f(input)))(x));
  x.dispose();
  const evaluate = (data: number[]) =>
    tf.tidy(() => tf.sum(f(tf.tensor(data, shape, 'float32'))).dataSync()[0] as number);
  const numeric = point.map((_, i) => {
    const plus = [...point];
    const minus = [...point];
    plus[i] = (plus[i] as number) + step;
    minus[i] = (minus[i] as number) - step;
    return (evaluate(plus) - evaluate(minus)) / (2 * step);
  });
  const scale = Math.max(1e-3, ...numeric.map(Math.abs));
  expectClose(analytic, numeric, {
    rtol: 0,
    atol: rtol * scale,
    label: 'gradient vs finite differences',
  });
}
