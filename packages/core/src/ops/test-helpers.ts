import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/** A tensor as the fixture generator (scripts/fixtures/core-ops.py) writes it. */
export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export function loadFixture<T>(name: string): T {
  return JSON.parse(
    readFileSync(new URL(`../__fixtures__/ops/${name}`, import.meta.url), 'utf8'),
  ) as T;
}

export function tensorOf(fixture: FixtureTensor): tf.Tensor {
  return tf.tensor(fixture.data, fixture.shape, 'float32');
}

/** Asserts shape and |actual - expected| ≤ atol + rtol·|expected| for every element. */
export function expectClose(
  actual: tf.Tensor,
  expected: FixtureTensor,
  atol = 1e-4,
  rtol = 1e-4,
): void {
  expect(actual.shape).toEqual(expected.shape);
  const values = actual.dataSync();
  let worst = 0;
  let worstIndex = -1;
  expected.data.forEach((want, i) => {
    const excess = Math.abs((values[i] as number) - want) - (atol + rtol * Math.abs(want));
    if (!(excess <= worst)) {
      worst = excess;
      worstIndex = i;
    }
  });
  if (worstIndex >= 0) {
    expect.fail(
      `element ${worstIndex}: got ${values[worstIndex]}, expected ${expected.data[worstIndex]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}
