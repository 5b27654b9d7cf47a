import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FLOAT32_EPS, sumAll, weightReduceLoss } from './reduction';
import { expectClose, values } from './test-helpers';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('weightReduceLoss (mmdetection weight_reduce_loss)', () => {
  const loss = () => tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);

  it('reduces with weight, mean, sum and avgFactor (+ float32 eps)', () => {
    const l = loss();
    const weight = tf.tensor2d([1, 0, 1, 0, 1, 1], [2, 3]);
    expectClose(values(weightReduceLoss('t', l, {})), [3.5]);
    expectClose(values(weightReduceLoss('t', l, { reduction: 'sum' })), [21]);
    expectClose(
      values(weightReduceLoss('t', l, { reduction: 'none', weight })),
      [1, 0, 3, 0, 5, 6],
    );
    expectClose(values(weightReduceLoss('t', l, { weight })), [15 / 6]);
    expectClose(values(weightReduceLoss('t', l, { weight, avgFactor: 4 })), [
      15 / (4 + FLOAT32_EPS),
    ]);
    const avgFactor = tf.scalar(4);
    expectClose(values(weightReduceLoss('t', l, { weight, avgFactor })), [15 / 4]);
    // avgFactor with 'none' does nothing (mmdetection).
    expectClose(
      values(weightReduceLoss('t', l, { reduction: 'none', avgFactor: 2 })),
      [1, 2, 3, 4, 5, 6],
    );
    tf.dispose([l, weight, avgFactor]);
  });

  it('broadcasts a per-row weight over the last axis', () => {
    const l = loss();
    const weight = tf.tensor1d([2, 0]);
    expectClose(
      values(weightReduceLoss('t', l, { reduction: 'none', weight })),
      [2, 4, 6, 0, 0, 0],
    );
    tf.dispose([l, weight]);
  });

  it('all-zero weights and avgFactor 0 give 0, not NaN', () => {
    const l = loss();
    const weight = tf.zeros([2, 3]);
    expectClose(values(weightReduceLoss('t', l, { weight, avgFactor: 0 })), [0]);
    tf.dispose([l, weight]);
  });

  it('reduces an empty loss to 0 (wasm sums of empty tensors are garbage)', () => {
    const empty = tf.zeros([0, 4]);
    expect(values(sumAll(empty))).toEqual([0]);
    expect(values(weightReduceLoss('t', empty, {}))).toEqual([0]);
    expect(values(weightReduceLoss('t', empty, { reduction: 'sum' }))).toEqual([0]);
    expect(values(weightReduceLoss('t', empty, { avgFactor: 0 }))).toEqual([0]);
    expect(weightReduceLoss('t', empty, { reduction: 'none' }).shape).toEqual([0, 4]);
    empty.dispose();
  });

  it('rejects bad options with the loss and field named', () => {
    const l = loss();
    expect(() => weightReduceLoss('myLoss', l, { reduction: 'sum', avgFactor: 2 })).toThrow(
      "myLoss: options.avgFactor cannot be used with reduction 'sum' (mmdetection)",
    );
    expect(() => weightReduceLoss('myLoss', l, { reduction: 'avg' as never })).toThrow(
      'myLoss: options.reduction="avg" must be one of none, mean, sum',
    );
    expect(() => weightReduceLoss('myLoss', l, { avgFactor: Number.NaN })).toThrow(
      'myLoss: options.avgFactor=NaN must be a finite number >= 0',
    );
    const weight = tf.ones([3]);
    expect(() => weightReduceLoss('myLoss', l, { weight })).not.toThrow();
    const bad = tf.ones([2, 2]);
    expect(() => weightReduceLoss('myLoss', l, { weight: bad })).toThrow(
      'myLoss: options.weight has shape [2,2], which does not broadcast to the loss shape [2,3]',
    );
    const tooBig = tf.ones([4, 2, 3]);
    expect(() => weightReduceLoss('myLoss', l, { weight: tooBig })).toThrow(/shape \[4,2,3\]/);
    tf.dispose([l, weight, bad, tooBig]);
  });
});
