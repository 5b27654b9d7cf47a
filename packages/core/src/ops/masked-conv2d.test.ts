import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { expectClose } from '../testing';
import { maskedConv2d } from './masked-conv2d';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('maskedConv2d equals the dense conv at masked positions, zeros elsewhere', () => {
  const cases = [
    { batch: 1, strides: 1, dilations: 1, pad: 'same' as const },
    { batch: 4, strides: 1, dilations: 1, pad: 'same' as const },
    { batch: 4, strides: 2, dilations: 1, pad: 1 },
    { batch: 2, strides: 1, dilations: 2, pad: 2 },
  ];
  for (const { batch, strides, dilations, pad } of cases) {
    for (const density of [0, 0.1, 1]) {
      for (const path of ['sparse', 'dense'] as const) {
        it(`batch ${batch}, stride ${strides}, dilation ${dilations}, density ${density}, ${path}`, () => {
          const before = tf.memory().numTensors;
          tf.tidy(() => {
            const input = tf.randomNormal([batch, 9, 11, 5], 0, 1, 'float32', 11) as tf.Tensor4D;
            const filter = tf.randomNormal([3, 3, 5, 6], 0, 1, 'float32', 12) as tf.Tensor4D;
            const bias = tf.randomNormal([6], 0, 1, 'float32', 13) as tf.Tensor1D;
            const explicit: tf.backend_util.ExplicitPadding | 'same' =
              pad === 'same'
                ? 'same'
                : [
                    [0, 0],
                    [pad, pad],
                    [pad, pad],
                    [0, 0],
                  ];
            const dense = tf.add(
              tf.conv2d(input, filter, strides, explicit, 'NHWC', dilations),
              bias,
            );
            const [, outHeight = 0, outWidth = 0] = dense.shape;
            const mask = tf.less(
              tf.randomUniform([batch, outHeight, outWidth], 0, 1, 'float32', 14),
              density,
            );
            const out = maskedConv2d(input, filter, mask, {
              strides,
              dilations,
              pad,
              bias,
              denseAbove: path === 'sparse' ? 2 : 0,
            });
            const expected = tf.mul(dense, tf.expandDims(tf.cast(mask, 'float32'), 3));
            expect(out.shape).toEqual(dense.shape);
            // Same float32 arithmetic as the dense conv, but a different summation order.
            expectClose(out, expected, { atol: 1e-4, rtol: 1e-5, label: 'masked conv' });
            if (density === 0.1) {
              // Real work happened: some positions kept, some zeroed.
              const kept = tf.sum(tf.cast(mask, 'float32')).dataSync()[0] as number;
              expect(kept).toBeGreaterThan(0);
              expect(kept).toBeLessThan(batch * outHeight * outWidth);
            }
          });
          expect(tf.memory().numTensors).toBe(before);
        });
      }
    }
  }

  it('leaves no tensors behind on either path', () => {
    const input = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
    const mask = tf.less(tf.randomUniform([2, 6, 6], 0, 1, 'float32', 3), 0.3);
    const before = tf.memory().numTensors;
    for (const denseAbove of [0, 2]) {
      const out = maskedConv2d(input, filter, mask, { denseAbove });
      out.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([input, filter, mask]);
  });

  it('handles an empty batch', () => {
    const out = maskedConv2d(tf.zeros([0, 5, 5, 2]), tf.ones([3, 3, 2, 4]), tf.zeros([0, 5, 5]));
    expect(out.shape).toEqual([0, 5, 5, 4]);
    out.dispose();
  });

  it('names the bad field', () => {
    const input = tf.zeros([1, 5, 5, 2]) as tf.Tensor4D;
    const filter = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
    const mask = tf.zeros([1, 4, 5]);
    expect(() => maskedConv2d(input, filter, mask)).toThrow(
      /mask must be \[B, Ho, Wo\] = \[1, 5, 5\]/,
    );
    tf.dispose([input, filter, mask]);
  });
});
