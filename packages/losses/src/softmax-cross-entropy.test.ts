import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { softmaxCrossEntropy } from './softmax-cross-entropy';
import { checkGradient, expectAllFinite, expectClose, valueAndGradient } from './test-helpers';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('softmaxCrossEntropy', () => {
  it('is finite for logits of ±100 and gives ignored rows no loss and no gradient', () => {
    const x = tf.tensor2d([100, -100, 0, -100, 100, 100, 0, 0, -100, 1e4, -1e4, 0], [4, 3]);
    const labels = tf.tensor1d([1, 2, -100, 1], 'int32');
    const { value, gradient } = valueAndGradient(
      (p) => softmaxCrossEntropy(p, labels, { reduction: 'none' }),
      x,
    );
    expectAllFinite(value);
    expectAllFinite(gradient);
    expectClose(value, [200, Math.log(2), 0, 2e4]);
    expectClose(gradient.slice(6, 9), [0, 0, 0], { atol: 0 });
    tf.dispose([x, labels]);
  });

  it('matches the finite-difference gradient', () => {
    const labels = tf.tensor1d([2, 0], 'int32');
    checkGradient(
      (p) => softmaxCrossEntropy(p, labels, { classWeight: [1, 0.5, 2] }),
      [0.3, -1, 1.2, 2, 0.1, -0.4],
      [2, 3],
    );
    labels.dispose();
  });

  it('handles empty inputs and all-ignored batches (avgNonIgnore)', () => {
    const empty = tf.zeros([0, 5]);
    const emptyLabels = tf.zeros([0], 'int32');
    expect(valueAndGradient((p) => softmaxCrossEntropy(p, emptyLabels), empty).value).toEqual([0]);
    expect(
      valueAndGradient((p) => softmaxCrossEntropy(p, emptyLabels, { avgNonIgnore: true }), empty)
        .value,
    ).toEqual([0]);
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const ignored = tf.tensor1d([-100, -100], 'int32');
    const all = valueAndGradient((p) => softmaxCrossEntropy(p, ignored, { avgNonIgnore: true }), x);
    expect(all.value).toEqual([0]);
    expectClose(all.gradient, [0, 0, 0, 0], { atol: 0 });
    tf.dispose([empty, emptyLabels, x, ignored]);
  });

  it('rejects bad shapes clearly', () => {
    const x = tf.zeros([2, 3]);
    const floatLabels = tf.zeros([2]);
    expect(() => softmaxCrossEntropy(x, floatLabels)).toThrow(
      'softmaxCrossEntropy: target must be int32 labels of shape [2], got float32 [2]',
    );
    const labels = tf.zeros([2], 'int32');
    expect(() => softmaxCrossEntropy(x, labels, { classWeight: [1, 2] })).toThrow(
      'softmaxCrossEntropy: options.classWeight has 2 entries, pred has 3 classes',
    );
    const flat = tf.zeros([6]);
    expect(() => softmaxCrossEntropy(flat, labels)).toThrow(
      'softmaxCrossEntropy: pred must have shape [N,C], got [6]',
    );
    tf.dispose([x, floatLabels, labels, flat]);
  });
});
