import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { expectClose } from '../testing';
import { deformConv2d } from './deform-conv2d';
import { type DeformCase, loadFixture, tensorOf } from './test-helpers';

const fixture = loadFixture<{ cases: DeformCase[] }>('deform-conv2d.json');

/** Every output and gradient: float32 on wasm against torchvision run in float64. */
const tolerance = { atol: 1e-4, rtol: 1e-4 };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('deformConv2d equals torchvision.ops.deform_conv2d', () => {
  for (const [testCase, sampling] of fixture.cases.flatMap((c) =>
    (['host', 'tensor'] as const).map((s) => [c, s] as const),
  )) {
    it(`${testCase.name}: forward and gradients (${sampling} sampling)`, () => {
      const before = tf.memory().numTensors;
      const input = tensorOf(testCase.input) as tf.Tensor4D;
      const offset = tensorOf(testCase.offset) as tf.Tensor4D;
      const filter = tensorOf(testCase.filter) as tf.Tensor4D;
      const upstream = tensorOf(testCase.upstream);
      const bias = testCase.bias ? (tensorOf(testCase.bias) as tf.Tensor1D) : undefined;
      const mask = testCase.mask ? (tensorOf(testCase.mask) as tf.Tensor4D) : undefined;
      const optional = [bias, mask].filter((t) => t !== undefined);
      const run = (x: tf.Tensor, o: tf.Tensor, w: tf.Tensor, ...rest: tf.Tensor[]) =>
        deformConv2d(x as tf.Tensor4D, o as tf.Tensor4D, w as tf.Tensor4D, {
          ...testCase.options,
          sampling,
          bias: bias ? (rest[0] as tf.Tensor1D) : undefined,
          mask: mask ? (rest[bias ? 1 : 0] as tf.Tensor4D) : undefined,
        });
      const output = run(input, offset, filter, ...optional);
      expectClose(output, testCase.output, { ...tolerance, label: 'output' });
      const gradients = tf.grads((x, o, w, ...rest) =>
        tf.sum(tf.mul(run(x, o, w, ...rest), upstream)),
      );
      const grads = gradients([input, offset, filter, ...optional]);
      const [gInput, gOffset, gFilter, ...gRest] = grads;
      expectClose(gInput as tf.Tensor, testCase.gradInput, { ...tolerance, label: 'gradInput' });
      expectClose(gOffset as tf.Tensor, testCase.gradOffset, { ...tolerance, label: 'gradOffset' });
      expectClose(gFilter as tf.Tensor, testCase.gradFilter, { ...tolerance, label: 'gradFilter' });
      if (testCase.gradBias)
        expectClose(gRest[0] as tf.Tensor, testCase.gradBias, { ...tolerance, label: 'gradBias' });
      if (testCase.gradMask)
        expectClose(gRest[bias ? 1 : 0] as tf.Tensor, testCase.gradMask, {
          ...tolerance,
          label: 'gradMask',
        });
      tf.dispose([input, offset, filter, upstream, ...optional, output, ...grads]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it.each(['host', 'tensor'] as const)(
    'zero offsets give the ordinary convolution (%s sampling)',
    (sampling) => {
      const input = tf.randomNormal([2, 7, 6, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
      const offset = tf.zeros([2, 4, 3, 18]) as tf.Tensor4D;
      const out = deformConv2d(input, offset, filter, {
        strides: 2,
        pad: 1,
        dilations: 1,
        sampling,
      });
      const dense = tf.conv2d(input, filter, 2, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]);
      expect(tf.max(tf.abs(tf.sub(out, dense))).dataSync()[0]).toBeLessThan(1e-4);
      tf.dispose([input, filter, offset, out, dense]);
    },
  );

  // [modulated, C, O, deform groups]: the unmodulated host path on wasm is the fused kernel
  // (O = 5: vector + scalar output lanes; O = 36: blocks of 16, a vector, none left).
  it.each([
    [false, 8, 5, 2],
    [true, 8, 5, 2],
    [false, 32, 36, 4],
  ] as const)(
    'host sampling gives the tensor path’s bits, output and every gradient (modulated: %s, C %i, O %i, groups %i)',
    (modulated, channels, outChannels, groups) => {
      const input = tf.randomNormal([2, 9, 7, channels], 0, 1, 'float32', 11) as tf.Tensor4D;
      const offset = tf.randomNormal([2, 9, 7, 2 * groups * 9], 0, 2, 'float32', 12) as tf.Tensor4D;
      const filter = tf.randomNormal(
        [3, 3, channels, outChannels],
        0,
        0.3,
        'float32',
        13,
      ) as tf.Tensor4D;
      const mask = tf.randomUniform([2, 9, 7, groups * 9], 0, 1, 'float32', 14) as tf.Tensor4D;
      const upstream = tf.randomNormal([2, 9, 7, outChannels], 0, 1, 'float32', 15);
      const before = tf.memory().numTensors;
      const run = (sampling: 'host' | 'tensor') =>
        tf.grads((x, o, w, m) =>
          tf.sum(
            tf.mul(
              deformConv2d(x as tf.Tensor4D, o as tf.Tensor4D, w as tf.Tensor4D, {
                pad: 1,
                deformGroups: groups,
                sampling,
                ...(m ? { mask: m as tf.Tensor4D } : {}),
              }),
              upstream,
            ),
          ),
        )(modulated ? [input, offset, filter, mask] : [input, offset, filter]);
      const forward = (sampling: 'host' | 'tensor') =>
        deformConv2d(input, offset, filter, {
          pad: 1,
          deformGroups: groups,
          sampling,
          ...(modulated ? { mask } : {}),
        });
      const host = [forward('host'), ...run('host')];
      const tensor = [forward('tensor'), ...run('tensor')];
      host.forEach((h, k) => {
        expect(Array.from(h.dataSync())).toEqual(Array.from((tensor[k] as tf.Tensor).dataSync()));
      });
      tf.dispose([...host, ...tensor]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([input, offset, filter, mask, upstream]);
    },
  );

  it('handles an empty batch', () => {
    const out = deformConv2d(
      tf.zeros([0, 5, 5, 2]),
      tf.zeros([0, 5, 5, 18]),
      tf.ones([3, 3, 2, 4]),
      { pad: 1 },
    );
    expect(out.shape).toEqual([0, 5, 5, 4]);
    out.dispose();
  });

  it('names the bad field', () => {
    const input = tf.zeros([1, 5, 5, 2]) as tf.Tensor4D;
    const filter = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
    expect(() => deformConv2d(input, tf.zeros([1, 5, 5, 9]), filter, { pad: 1 })).toThrow(
      /offset must be/,
    );
    expect(() =>
      deformConv2d(input, tf.zeros([1, 5, 5, 18]), filter, { pad: 1, deformGroups: 3 }),
    ).toThrow(/deformGroups/);
    tf.dispose([input, filter]);
  });
});
