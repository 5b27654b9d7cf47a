import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { sigmoidFocalLoss } from './sigmoid-focal-loss';
import { checkGradient, expectAllFinite, expectClose, valueAndGradient } from './test-helpers';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const extremeLogits = [100, -100, 100, -100, 0, 50, -50, 88, -88, 1e4, -1e4, 3];
const extremeTargets = [1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0.5];

describe('sigmoidFocalLoss', () => {
  it('is finite with finite gradients for logits of ±100 (and ±1e4), every gamma', () => {
    for (const gamma of [0, 0.5, 1, 2, 3.5]) {
      const x = tf.tensor2d(extremeLogits, [3, 4]);
      const t = tf.tensor2d(extremeTargets, [3, 4]);
      const { value, gradient } = valueAndGradient(
        (p) => sigmoidFocalLoss(p, t, { gamma, reduction: 'none' }),
        x,
      );
      expectAllFinite(value, `gamma ${gamma} loss`);
      expectAllFinite(gradient, `gamma ${gamma} gradient`);
      // Saturated correct predictions cost nothing; saturated wrong ones cost α_t·|x|·1.
      expect(value[0]).toBe(0);
      expectClose([value[2] as number], [0.75 * 100], { label: 'wrong negative' });
      tf.dispose([x, t]);
    }
  });

  it('matches the finite-difference gradient', () => {
    const point = [-1.2, 0.4, 2.1, -0.3, 0.9, -2.2];
    const t = tf.tensor2d([1, 0, 1, 0, 0, 0.3], [2, 3]);
    for (const gamma of [2, 0.5]) {
      checkGradient((p) => sigmoidFocalLoss(p, t, { gamma, reduction: 'sum' }), point, [2, 3]);
    }
    t.dispose();
  });

  it('handles empty inputs, all-zero weights and int labels', () => {
    const empty = tf.zeros([0, 80]);
    const emptyLabels = tf.zeros([0], 'int32');
    const { value, gradient } = valueAndGradient((p) => sigmoidFocalLoss(p, emptyLabels), empty);
    expect(value).toEqual([0]);
    expect(gradient).toEqual([]);
    const x = tf.tensor2d([1, -2, 3, 0.5], [2, 2]);
    const labels = tf.tensor1d([1, 2], 'int32');
    const weight = tf.zeros([2]);
    const zero = valueAndGradient((p) => sigmoidFocalLoss(p, labels, { weight, avgFactor: 0 }), x);
    expect(zero.value).toEqual([0]);
    expectClose(zero.gradient, [0, 0, 0, 0], { atol: 0 });
    tf.dispose([empty, emptyLabels, x, labels, weight]);
  });

  it('rejects bad shapes and options clearly', () => {
    const x = tf.zeros([2, 3]);
    const t = tf.zeros([2, 4]);
    const labels = tf.zeros([3], 'int32');
    expect(() => sigmoidFocalLoss(x, t)).toThrow(
      'sigmoidFocalLoss: target shape [2,4] does not match pred shape [2,3] (or pass int32 labels of shape [2])',
    );
    expect(() => sigmoidFocalLoss(x, labels)).toThrow(
      'sigmoidFocalLoss: int32 target labels must have shape [2] for pred [2,3], got [3]',
    );
    expect(() => sigmoidFocalLoss(x, x, { gamma: -1 })).toThrow(
      'sigmoidFocalLoss: options.gamma=-1 must be a finite number >= 0',
    );
    tf.dispose([x, t, labels]);
  });
});
