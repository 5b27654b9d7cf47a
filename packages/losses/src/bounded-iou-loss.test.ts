import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { boundedIouLoss, boundedIouShapeLoss } from './bounded-iou-loss';
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

/** Smooth L1 of a non-negative term, written out from its definition. */
function smoothL1(x: number, beta: number): number {
  return x < beta ? (0.5 * x * x) / beta : x - 0.5 * beta;
}

describe('boundedIouLoss (mmdetection) and boundedIouShapeLoss (GA eq. 6)', () => {
  const beta = 0.2;
  const eps = 1e-3;

  it('matches hand-derived terms', () => {
    // Same centre (5, 10); pred 10×20, target 20×10: size terms 1 − min(20/(10+ε), 10/(20+ε)).
    // Second pair: same size 4×4, centre shifted by Δx = 1: x-term 1 − (4 − 2)/(4 + 2 + ε).
    const pred = tf.tensor2d([0, 0, 10, 20, 0, 0, 4, 4], [2, 4]);
    const target = tf.tensor2d([-5, 5, 15, 15, 1, 0, 5, 4], [2, 4]);
    const size = 1 - Math.min(20 / (10 + eps), 10 / (20 + eps));
    const sizeH = 1 - Math.min(10 / (20 + eps), 20 / (10 + eps));
    const same = 1 - Math.min(4 / (4 + eps), 4 / (4 + eps));
    const expected = [
      [1 - 20 / (20 + eps), 1 - 10 / (10 + eps), size, sizeH],
      [1 - 2 / (6 + eps), 1 - 4 / (4 + eps), same, same],
    ]
      .flat()
      .map((term) => smoothL1(term, beta));
    const out = boundedIouLoss(pred, target, { reduction: 'none' });
    expect(out.shape).toEqual([2, 4]);
    expectClose(values(out), expected, { rtol: 1e-5, atol: 1e-7 });
    // Centre far outside the target's width: the x-term saturates at 1 − 0.
    const far = tf.tensor2d([100, 0, 104, 4], [1, 4]);
    const farTarget = tf.tensor2d([0, 0, 4, 4], [1, 4]);
    const farLoss = values(boundedIouLoss(far, farTarget, { reduction: 'none' }));
    expectClose([farLoss[0] as number], [smoothL1(1, beta)]);
    tf.dispose([pred, target, far, farTarget]);
  });

  it('shape form: only w/h terms, hand-derived', () => {
    const pred = tf.tensor2d([10, 20, 4, 4], [2, 2]);
    const target = tf.tensor2d([20, 10, 5, 4], [2, 2]);
    const expected = [
      1 - Math.min(20 / (10 + eps), 10 / (20 + eps)),
      1 - Math.min(10 / (20 + eps), 20 / (10 + eps)),
      1 - Math.min(5 / (4 + eps), 4 / (5 + eps)),
      1 - Math.min(4 / (4 + eps), 4 / (4 + eps)),
    ].map((term) => smoothL1(term, beta));
    expectClose(values(boundedIouShapeLoss(pred, target, { reduction: 'none' })), expected, {
      rtol: 1e-5,
      atol: 1e-7,
    });
    // The same numbers as the w/h columns of the full loss with the centres aligned.
    const boxes = tf.tensor2d([-5, -10, 5, 10, -2, -2, 2, 2], [2, 4]);
    const targets = tf.tensor2d([-10, -5, 10, 5, -2.5, -2, 2.5, 2], [2, 4]);
    const full = values(boundedIouLoss(boxes, targets, { reduction: 'none' }));
    expectClose([full[2], full[3], full[6], full[7]] as number[], expected, {
      rtol: 1e-5,
      atol: 1e-7,
    });
    tf.dispose([pred, target, boxes, targets]);
  });

  it('treats the target as a constant and gives a centred box no centre gradient', () => {
    const pred = tf.tensor2d([0, 0, 10, 20], [1, 4]);
    const target = tf.tensor2d([-5, 5, 15, 15], [1, 4]);
    const gradTarget = values(tf.grad((t: tf.Tensor) => tf.sum(boundedIouLoss(pred, t)))(target));
    expectClose(gradTarget, [0, 0, 0, 0], { atol: 0 });
    // Same centre: |Δ|' = sign(0) = 0, so the centre terms pull nowhere; only sizes move.
    const gradPred = values(
      tf.grad((p: tf.Tensor) =>
        tf.sum(tf.slice(boundedIouLoss(p, target, { reduction: 'none' }), [0, 0], [1, 2])),
      )(pred),
    );
    expectClose(gradPred, [0, 0, 0, 0], { atol: 0 });
    tf.dispose([pred, target]);
  });

  it('is finite with finite gradients for zero-size boxes, and empty inputs', () => {
    const pred = tf.tensor2d(degeneratePred, [4, 4]);
    const target = tf.tensor2d(degenerateTarget, [4, 4]);
    const { value, gradient } = valueAndGradient(
      (p) => boundedIouLoss(p, target, { reduction: 'none' }),
      pred,
    );
    expectAllFinite(value);
    expectAllFinite(gradient);
    const wh = tf.tensor2d([0, 0, 0, 3, 5, 0], [3, 2]);
    const whTarget = tf.tensor2d([0, 0, 2, 0, 5, 1], [3, 2]);
    const shape = valueAndGradient(
      (p) => boundedIouShapeLoss(p, whTarget, { reduction: 'none' }),
      wh,
    );
    expectAllFinite(shape.value);
    expectAllFinite(shape.gradient);
    const empty = tf.zeros([0, 4]);
    expect(valueAndGradient((p) => boundedIouLoss(p, empty), empty).value).toEqual([0]);
    const emptyWh = tf.zeros([0, 2]);
    expect(valueAndGradient((p) => boundedIouShapeLoss(p, emptyWh), emptyWh).value).toEqual([0]);
    tf.dispose([pred, target, wh, whTarget, empty, emptyWh]);
  });

  it('matches the finite-difference gradient', () => {
    const target = tf.tensor2d([1, 2, 9, 8, 0, 0, 4, 6], [2, 4]);
    checkGradient(
      (p) => boundedIouLoss(p, target, { reduction: 'sum' }),
      [2, 1, 8, 9.5, 0.5, 1, 5, 7],
      [2, 4],
    );
    const whTarget = tf.tensor2d([8, 6, 4, 6], [2, 2]);
    checkGradient(
      (p) => boundedIouShapeLoss(p, whTarget, { reduction: 'sum' }),
      [6, 9.5, 4.5, 7],
      [2, 2],
    );
    tf.dispose([target, whTarget]);
  });

  it('rejects bad shapes and options clearly', () => {
    const boxes = tf.zeros([3, 4]);
    expect(() => boundedIouShapeLoss(boxes, boxes)).toThrow(
      'boundedIouShapeLoss: pred must have shape [N,2], got [3,4]',
    );
    expect(() => boundedIouLoss(boxes, boxes, { eps: 0 })).toThrow(
      'boundedIouLoss: options.eps=0 must be a finite number > 0',
    );
    boxes.dispose();
  });
});
