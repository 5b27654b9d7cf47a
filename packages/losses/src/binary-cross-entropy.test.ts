import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { binaryCrossEntropyWithLogits } from './binary-cross-entropy';
import { checkGradient, expectAllFinite, expectClose, valueAndGradient } from './test-helpers';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const extremeLogits = [100, -100, 100, -100, 0, 50, -50, 88, -88, 1e4, -1e4, 3];
const extremeTargets = [1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0.5];

describe('binaryCrossEntropyWithLogits', () => {
  it('is finite for logits of ±100 and exact at 0 (gradient σ(0) − t)', () => {
    const x = tf.tensor2d(extremeLogits, [3, 4]);
    const t = tf.tensor2d(extremeTargets, [3, 4]);
    const { value, gradient } = valueAndGradient(
      (p) => binaryCrossEntropyWithLogits(p, t, { reduction: 'none' }),
      x,
    );
    expectAllFinite(value);
    expectAllFinite(gradient);
    expectClose([value[1] as number, value[3] as number], [0, 100]);
    expectClose([value[4] as number, gradient[4] as number], [Math.log(2), 0.5 - 1]);
    tf.dispose([x, t]);
  });

  it('matches the finite-difference gradient', () => {
    const t = tf.tensor1d([0.2, 1, 0, 0.7]);
    checkGradient(
      (p) => binaryCrossEntropyWithLogits(p, t, { reduction: 'sum' }),
      [-1.5, 0.7, 2.2, 0.1],
      [4],
    );
    t.dispose();
  });

  it('handles empty inputs', () => {
    const empty = tf.zeros([0]);
    const { value } = valueAndGradient((p) => binaryCrossEntropyWithLogits(p, empty), empty);
    expect(value).toEqual([0]);
    empty.dispose();
  });
});
