import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { flatten, layoutOf, sameLayout, unflatten, unflattenBySplit } from './flat';

describe('flatten / unflatten', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('round-trips tensors of every rank through one vector, in order, leaking nothing', () => {
    const before = tf.memory().numTensors;
    const tensors = [
      tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]),
      tf.scalar(7),
      tf.tensor1d([8, 9]),
      tf.tensor2d([10, 11, 12, 13], [2, 2]),
    ];
    const layout = layoutOf(['w', 's', 'b', 'm'], tensors);
    expect(layout.sizes).toEqual([6, 1, 2, 4]);
    const flat = flatten(tensors);
    expect(Array.from(flat.dataSync())).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    const parts = unflatten(flat, layout);
    parts.forEach((part, index) => {
      expect(part.shape).toEqual(tensors[index]!.shape);
      expect(Array.from(part.dataSync())).toEqual(Array.from(tensors[index]!.dataSync()));
    });
    const split = unflattenBySplit(flat, layout);
    split.forEach((part, index) => {
      expect(part.shape).toEqual(tensors[index]!.shape);
      expect(Array.from(part.dataSync())).toEqual(Array.from(tensors[index]!.dataSync()));
    });
    const alone = flatten([tensors[0]!]);
    const single = unflatten(alone, layoutOf(['w'], [tensors[0]!]));
    expect(single[0]!.shape).toEqual([1, 1, 2, 3]);
    tf.dispose([...tensors, flat, ...parts, ...split, alone, ...single]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('compares layouts by names, order and shapes', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([6]);
    expect(sameLayout(layoutOf(['x', 'y'], [a, b]), layoutOf(['x', 'y'], [a, b]))).toBe(true);
    expect(sameLayout(layoutOf(['x', 'y'], [a, b]), layoutOf(['y', 'x'], [b, a]))).toBe(false);
    expect(sameLayout(layoutOf(['x'], [a]), layoutOf(['x'], [b]))).toBe(false);
    expect(sameLayout(layoutOf(['x'], [a]), layoutOf(['x', 'y'], [a, b]))).toBe(false);
    tf.dispose([a, b]);
  });
});
