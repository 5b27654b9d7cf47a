import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { giouLoss, type IouLossOptions, iouLoss } from './iou-loss';
import {
  checkGradient,
  expectAllFinite,
  expectClose,
  valueAndGradient,
  values,
} from './test-helpers';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

// Zero-size and degenerate pairs: a point on a point, a point inside a box, a line, and a
// box on itself.
const degeneratePred = [5, 5, 5, 5, 3, 3, 3, 3, 0, 0, 10, 0, 2, 2, 6, 9];
const degenerateTarget = [5, 5, 5, 5, 0, 0, 10, 10, 0, 0, 10, 0, 2, 2, 6, 9];

describe('iouLoss and giouLoss', () => {
  it('are finite with finite gradients for zero-size boxes, and 0 under all-zero weights', () => {
    const cases = [
      ['iou log', (p: tf.Tensor, t: tf.Tensor, o: IouLossOptions) => iouLoss(p, t, o)],
      [
        'iou linear',
        (p: tf.Tensor, t: tf.Tensor, o: IouLossOptions) => iouLoss(p, t, { ...o, mode: 'linear' }),
      ],
      ['giou', (p: tf.Tensor, t: tf.Tensor, o: IouLossOptions) => giouLoss(p, t, o)],
    ] as const;
    const pred = tf.tensor2d(degeneratePred, [4, 4]);
    const target = tf.tensor2d(degenerateTarget, [4, 4]);
    const weight = tf.zeros([4]);
    for (const [name, loss] of cases) {
      const { value, gradient } = valueAndGradient(
        (p) => loss(p, target, { reduction: 'none' }),
        pred,
      );
      expectAllFinite(value, `${name} loss`);
      expectAllFinite(gradient, `${name} gradient`);
      // No positives: all-zero weights with avgFactor 0 give exactly 0 and a zero gradient.
      const none = valueAndGradient((p) => loss(p, target, { weight, avgFactor: 0 }), pred);
      expect(none.value).toEqual([0]);
      expectClose(none.gradient, new Array(16).fill(0), { atol: 0, label: name });
    }
    tf.dispose([pred, target, weight]);
  });

  it('give IoU 0 → −log(eps) and identical boxes → 0', () => {
    const pred = tf.tensor2d([0, 0, 1, 1, 2, 2, 6, 9], [2, 4]);
    const target = tf.tensor2d([5, 5, 6, 6, 2, 2, 6, 9], [2, 4]);
    expectClose(values(iouLoss(pred, target, { reduction: 'none' })), [-Math.log(1e-6), 0]);
    // Disjoint unit boxes 4 apart: enclosing 6×6 = 36, union 2 → 1 − 0 + 34/36.
    expectClose(values(giouLoss(pred, target, { reduction: 'none' })), [1 + 34 / 36, 0]);
    tf.dispose([pred, target]);
  });

  it('match the finite-difference gradient', () => {
    const target = tf.tensor2d([1, 2, 9, 8, 0, 0, 4, 6], [2, 4]);
    const point = [2, 1, 8, 9.5, 1, 1.5, 5, 7];
    checkGradient((p) => iouLoss(p, target, { reduction: 'sum' }), point, [2, 4]);
    checkGradient((p) => iouLoss(p, target, { mode: 'linear', reduction: 'sum' }), point, [2, 4]);
    checkGradient((p) => giouLoss(p, target, { reduction: 'sum' }), point, [2, 4]);
    target.dispose();
  });

  it('average a [N, 4] weight over coordinates; empty is 0', () => {
    const pred = tf.tensor2d([0, 0, 2, 2, 0, 0, 1, 1], [2, 4]);
    const target = tf.tensor2d([0, 0, 2, 1, 0, 0, 1, 1], [2, 4]);
    const weight = tf.tensor2d([1, 1, 0, 0, 1, 1, 1, 1], [2, 4]);
    expectClose(values(iouLoss(pred, target, { mode: 'linear', weight, reduction: 'sum' })), [
      0.5 * 0.5,
    ]);
    const empty = tf.zeros([0, 4]);
    const emptyWeight = tf.zeros([0, 4]);
    for (const loss of [iouLoss, giouLoss]) {
      const { value, gradient } = valueAndGradient(
        (p) => loss(p, empty, { weight: emptyWeight }),
        empty,
      );
      expect(value).toEqual([0]);
      expect(gradient).toEqual([]);
    }
    tf.dispose([pred, target, weight, empty, emptyWeight]);
  });

  it('reject bad shapes clearly', () => {
    const boxes = tf.zeros([3, 4]);
    const wrong = tf.zeros([3, 5]);
    expect(() => giouLoss(wrong, boxes)).toThrow('giouLoss: pred must have shape [N,4], got [3,5]');
    const other = tf.zeros([2, 4]);
    expect(() => iouLoss(boxes, other)).toThrow(
      'iouLoss: target shape [2,4] does not match pred shape [3,4]',
    );
    const weight = tf.zeros([3, 2]);
    expect(() => iouLoss(boxes, boxes, { weight })).toThrow(
      'iouLoss: options.weight must have shape [3] or [3,4], got [3,2]',
    );
    expect(() => iouLoss(boxes, boxes, { mode: 'square' as never })).toThrow(
      `iouLoss: options.mode="square" must be 'log' or 'linear'`,
    );
    tf.dispose([boxes, wrong, other, weight]);
  });
});
