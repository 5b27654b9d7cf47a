import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { sigmoidClassificationLoss } from './loss-functions';

const softplus = (x: number) => Math.log1p(Math.exp(x));

describe('sigmoidClassificationLoss', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('works with one class (RPN objectness): label 0 positive, label 1 (= K) background', () => {
    const loss = sigmoidClassificationLoss();
    const logits = tf.tensor2d([[0.5], [-1], [2]]);
    const labels = tf.tensor1d([0, 1, 1], 'int32');
    const weights = tf.tensor1d([1, 1, 0.5]);
    const before = tf.memory().numTensors;
    const value = loss(logits, labels, weights);
    // BCE with logits: positive softplus(-x), negative softplus(x).
    const expected = softplus(-0.5) + softplus(-1) + 0.5 * softplus(2);
    expect(value.dataSync()[0]).toBeCloseTo(expected, 5);
    value.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, labels, weights]);
  });

  it('gives a gradient to the logits and handles zero rows', () => {
    const loss = sigmoidClassificationLoss();
    const labels = tf.tensor1d([0, 2], 'int32');
    const weights = tf.ones([2]);
    const grad = tf.grad((x: tf.Tensor) => loss(x as tf.Tensor2D, labels, weights as tf.Tensor1D));
    const g = grad(tf.zeros([2, 2]));
    // d/dx BCE = sigmoid(x) − target: 0.5 − 1 for the positive column, 0.5 elsewhere.
    expect(Array.from(g.dataSync())).toEqual([-0.5, 0.5, 0.5, 0.5]);
    const empty = loss(
      tf.zeros([0, 1]) as tf.Tensor2D,
      tf.zeros([0], 'int32') as tf.Tensor1D,
      tf.zeros([0]) as tf.Tensor1D,
    );
    expect(empty.dataSync()[0]).toBe(0);
    tf.dispose([labels, weights, g, empty]);
  });
});
