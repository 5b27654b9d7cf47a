import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { l1Loss, smoothL1Loss } from './smooth-l1-loss';
import { checkGradient, expectAllFinite, expectClose, valueAndGradient } from './test-helpers';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('smoothL1Loss and l1Loss', () => {
  it('give torch gradients at a tie: 0 (sign), not tfjs abs’ −1', () => {
    const target = tf.tensor1d([1, 2, 3]);
    const pred = tf.tensor1d([1, 2.05, 0]);
    const l1 = valueAndGradient((p) => l1Loss(p, target, { reduction: 'none' }), pred);
    expectClose(l1.value, [0, 0.05, 3]);
    expectClose(l1.gradient, [0, 1, -1], { atol: 0 });
    const smooth = valueAndGradient(
      (p) => smoothL1Loss(p, target, { beta: 0.1, reduction: 'none' }),
      pred,
    );
    expectClose(smooth.value, [0, (0.5 * 0.05 * 0.05) / 0.1, 3 - 0.05]);
    expectClose(smooth.gradient, [0, 0.5, -1], { atol: 1e-6 });
    tf.dispose([target, pred]);
  });

  it('match the finite-difference gradient on both sides of beta', () => {
    const target = tf.tensor1d([0.5, -1, 2, 0]);
    const point = [0.53, 0.4, 1.2, -0.08];
    for (const beta of [1, 0.2, 0]) {
      checkGradient((p) => smoothL1Loss(p, target, { beta, reduction: 'sum' }), point, [4], {
        step: 1e-3,
      });
    }
    checkGradient((p) => l1Loss(p, target, { reduction: 'sum' }), point, [4], { step: 1e-3 });
    target.dispose();
  });

  it('are finite on empty inputs and huge differences', () => {
    const empty = tf.zeros([0, 4]);
    expect(valueAndGradient((p) => smoothL1Loss(p, empty), empty).value).toEqual([0]);
    expect(valueAndGradient((p) => l1Loss(p, empty, { avgFactor: 0 }), empty).value).toEqual([0]);
    const big = tf.tensor1d([1e30, -1e30]);
    const zero = tf.zeros([2]);
    const { value, gradient } = valueAndGradient(
      (p) => smoothL1Loss(p, zero, { beta: 1 / 9 }),
      big,
    );
    expectAllFinite(value);
    expectAllFinite(gradient);
    tf.dispose([empty, big, zero]);
  });

  it('reject bad shapes and beta clearly', () => {
    const a = tf.zeros([2, 4]);
    const b = tf.zeros([2, 3]);
    expect(() => smoothL1Loss(a, b)).toThrow(
      'smoothL1Loss: target shape [2,3] does not match pred shape [2,4]',
    );
    expect(() => smoothL1Loss(a, a, { beta: -1 })).toThrow(
      'smoothL1Loss: options.beta=-1 must be a finite number >= 0',
    );
    const ints = tf.zeros([2, 4], 'int32');
    expect(() => l1Loss(a, ints)).toThrow('l1Loss: target must be float32, got int32');
    tf.dispose([a, b, ints]);
  });
});
