import * as tf from '@tensorflow/tfjs-core';
// The stock gradients, to compare against on the cpu backend (which has every kernel).
import { conv2DGradConfig as stockConv2dGrad } from '@tensorflow/tfjs-core/dist/gradients/Conv2D_grad';
import { gatherGradConfig as stockGatherGrad } from '@tensorflow/tfjs-core/dist/gradients/GatherV2_grad';
import { maxPoolGradConfig as stockMaxPoolGrad } from '@tensorflow/tfjs-core/dist/gradients/MaxPool_grad';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conv2dFilterGradient, conv2dInputGradient } from './gradient-overrides';
import { initBackend } from './init-backend';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
interface ConvCase {
  label: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations: number | [number, number];
}

const cases: ConvCase[] = [
  {
    label: '3x3 s1 same',
    x: [2, 7, 7, 3],
    filter: [3, 3, 3, 4],
    strides: 1,
    pad: 'same',
    dilations: 1,
  },
  {
    label: '3x3 s2 valid',
    x: [2, 9, 9, 3],
    filter: [3, 3, 3, 4],
    strides: 2,
    pad: 'valid',
    dilations: 1,
  },
  {
    label: '3x3 s2 same odd/even',
    x: [1, 9, 8, 2],
    filter: [3, 3, 2, 5],
    strides: 2,
    pad: 'same',
    dilations: 1,
  },
  {
    label: '1x1 s2',
    x: [3, 8, 8, 4],
    filter: [1, 1, 4, 6],
    strides: 2,
    pad: 'valid',
    dilations: 1,
  },
  {
    label: '7x7 s2 pad 3 (ResNet stem)',
    x: [1, 16, 16, 3],
    filter: [7, 7, 3, 4],
    strides: 2,
    pad: [
      [0, 0],
      [3, 3],
      [3, 3],
      [0, 0],
    ],
    dilations: 1,
  },
  {
    label: '5x3 s(2,1) asymmetric pad',
    x: [2, 10, 7, 3],
    filter: [5, 3, 3, 2],
    strides: [2, 1],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
    dilations: 1,
  },
];

const dilatedCases: ConvCase[] = [
  {
    label: '3x3 d2 same',
    x: [2, 9, 9, 3],
    filter: [3, 3, 3, 4],
    strides: 1,
    pad: 'same',
    dilations: 2,
  },
  {
    label: '3x3 d(2,3) valid',
    x: [1, 11, 12, 2],
    filter: [3, 3, 2, 3],
    strides: 1,
    pad: 'valid',
    dilations: [2, 3],
  },
];

function attrsOf(c: ConvCase) {
  return { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' as const, dilations: c.dilations };
}

function maxRelativeError(actual: tf.Tensor, expected: tf.Tensor): number {
  const a = actual.dataSync();
  const e = expected.dataSync();
  expect(actual.shape).toEqual(expected.shape);
  let scale = 0;
  for (const v of e) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs((a[i] as number) - (e[i] as number)));
  return worst / Math.max(scale, 1e-6);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

afterAll(async () => {
  await tf.setBackend('wasm');
});

describe('Conv2D gradient override', () => {
  for (const c of cases) {
    it(`equals the cpu stock gradient: ${c.label}`, async () => {
      const x = tf.randomNormal(c.x, 0, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomNormal(c.filter, 0, 1, 'float32', 2) as tf.Tensor4D;
      const y = tf.conv2d(x, filter, c.strides, c.pad, 'NHWC', c.dilations);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;

      await tf.setBackend('cpu');
      const stock = stockConv2dGrad.gradFunc(dy, [x, filter], attrsOf(c) as never);
      const expectedDx = stock.x!();
      const expectedDw = stock.filter!();
      await tf.setBackend('wasm');

      const before = tf.memory().numTensors;
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations),
            dy,
          ),
        ),
      )([x, filter]);
      expect(tf.memory().numTensors).toBe(before + 2);
      expect(maxRelativeError(dx!, expectedDx)).toBeLessThan(1e-5);
      expect(maxRelativeError(dw!, expectedDw)).toBeLessThan(1e-5);
      tf.dispose([x, filter, y, dy, expectedDx, expectedDw, dx!, dw!]);
    });
  }
});

describe('Conv2D gradient override with dilation (stock tfjs refuses it)', () => {
  for (const c of dilatedCases) {
    it(`passes a finite-difference check: ${c.label}`, () => {
      const x = tf.randomNormal(c.x, 0, 1, 'float32', 4) as tf.Tensor4D;
      const filter = tf.randomNormal(c.filter, 0, 1, 'float32', 5) as tf.Tensor4D;
      const y = tf.conv2d(x, filter, c.strides, c.pad, 'NHWC', c.dilations);
      const weights = tf.randomNormal(y.shape, 0, 1, 'float32', 6);
      const loss = (a: tf.Tensor4D, b: tf.Tensor4D) =>
        tf.sum(tf.mul(tf.conv2d(a, b, c.strides, c.pad, 'NHWC', c.dilations), weights));
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        loss(a as tf.Tensor4D, b as tf.Tensor4D),
      )([x, filter]);
      // The loss is linear in x and in the filter, so a central difference is exact up to rounding.
      const check = (
        tensor: tf.Tensor4D,
        gradient: tf.Tensor,
        other: tf.Tensor4D,
        isInput: boolean,
      ) => {
        const values = tensor.arraySync().flat(3) as number[];
        const grad = gradient.dataSync();
        for (const index of [0, 7, Math.floor(values.length / 2), values.length - 1]) {
          const step = 0.5;
          const plus = values.slice();
          const minus = values.slice();
          plus[index] = (plus[index] as number) + step;
          minus[index] = (minus[index] as number) - step;
          const fp = tf.tidy(() => {
            const t = tf.tensor4d(plus, tensor.shape);
            return (isInput ? loss(t, other) : loss(other, t)).dataSync()[0] as number;
          });
          const fm = tf.tidy(() => {
            const t = tf.tensor4d(minus, tensor.shape);
            return (isInput ? loss(t, other) : loss(other, t)).dataSync()[0] as number;
          });
          const numeric = (fp - fm) / (2 * step);
          expect(Math.abs(numeric - (grad[index] as number))).toBeLessThan(
            2e-3 * Math.max(1, Math.abs(numeric)),
          );
        }
      };
      check(x, dx!, filter, true);
      check(filter, dw!, x, false);
      tf.dispose([x, filter, y, weights, dx!, dw!]);
    });
  }

  it('uses the per-tap fallback when stride and dilation both exceed 1', () => {
    // tfjs' forward conv refuses stride>1 with dilation>1, so the filter gradient of a
    // strided dilated conv (reachable through explicit attrs) takes the matmul path.
    const x = tf.randomNormal([2, 13, 13, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const filterShape: [number, number, number, number] = [3, 3, 3, 2];
    const attrs = { strides: 2, pad: 'valid' as const, dataFormat: 'NHWC' as const, dilations: 2 };
    const outSize = Math.floor((13 - 5) / 2) + 1;
    const dy = tf.randomNormal([2, outSize, outSize, 2], 0, 1, 'float32', 8) as tf.Tensor4D;
    const dw = conv2dFilterGradient(x, dy, filterShape, attrs);
    // Brute force: dw[i,j,c,o] = sum x[b, y*2 + 2i, x*2 + 2j, c] * dy[b, y, x, o].
    const xs = x.arraySync();
    const dys = dy.arraySync();
    const got = dw.arraySync();
    for (const [i, j, c, o] of [
      [0, 0, 0, 0],
      [1, 2, 2, 1],
      [2, 1, 1, 0],
    ] as const) {
      let sum = 0;
      for (let b = 0; b < 2; b++)
        for (let yy = 0; yy < outSize; yy++)
          for (let xx = 0; xx < outSize; xx++)
            sum += xs[b]![yy * 2 + 2 * i]![xx * 2 + 2 * j]![c]! * dys[b]![yy]![xx]![o]!;
      expect(got[i]![j]![c]![o]!).toBeCloseTo(sum, 4);
    }
    // The input gradient handles stride and dilation together too (forward conv with dilation only).
    const dx = conv2dInputGradient([2, 13, 13, 3], dy, tf.ones(filterShape) as tf.Tensor4D, attrs);
    expect(dx.shape).toEqual([2, 13, 13, 3]);
    tf.dispose([x, dy, dw, dx]);
  });
});

describe('GatherV2 gradient override (scatterND instead of UnsortedSegmentSum)', () => {
  const gatherCases = [
    {
      label: 'axis 0, duplicate indices',
      x: [5, 3],
      indices: [4, 0, 4, 2, 4],
      axis: 0,
      indexShape: [5],
    },
    {
      label: 'axis 1, 2-D indices',
      x: [2, 6, 3],
      indices: [5, 1, 1, 0],
      axis: 1,
      indexShape: [2, 2],
    },
    { label: 'axis 2 of a 3-D tensor', x: [2, 3, 4], indices: [3, 3, 0], axis: 2, indexShape: [3] },
    { label: 'empty indices', x: [4, 2], indices: [], axis: 0, indexShape: [0] },
  ];
  for (const c of gatherCases) {
    it(`equals the cpu stock gradient: ${c.label}`, async () => {
      const x = tf.randomNormal(c.x, 0, 1, 'float32', 9);
      const indices = tf.tensor(c.indices, c.indexShape, 'int32');
      const y = tf.gather(x, indices, c.axis);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 10);
      await tf.setBackend('cpu');
      const expected = stockGatherGrad.gradFunc(dy, [x, indices], {
        axis: c.axis,
        batchDims: 0,
      } as never).x!();
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, indices, c.axis), dy)))(x);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(dx.shape).toEqual(c.x);
      expect(Array.from(dx.dataSync())).toEqual(
        Array.from(expected.dataSync()).map((v) => expect.closeTo(v, 5)),
      );
      tf.dispose([x, indices, y, dy, expected, dx]);
    });
  }
});

describe('zero gradients for comparison ops', () => {
  it('lets a mask built from a comparison sit on the gradient path', () => {
    const x = tf.tensor1d([-2, -0.5, 0.5, 3]);
    const dx = tf.grad((a: tf.Tensor) =>
      tf.sum(tf.mul(tf.cast(tf.greater(a, 0), 'float32'), tf.square(a))),
    )(x);
    expect(Array.from(dx.dataSync())).toEqual([0, 0, 1, 6]);
    tf.dispose([x, dx]);
  });
});

describe('MaxPool gradient override (wasm MaxPoolGrad drops all-negative windows)', () => {
  const poolCases = [
    {
      label: '1x1 s2 valid (FPN P6), odd size',
      x: [2, 5, 7, 32],
      filter: 1,
      strides: 2,
      pad: 'valid',
    },
    { label: '1x1 s2 same, even size', x: [1, 4, 6, 3], filter: 1, strides: 2, pad: 'same' },
    { label: '1x1 s1 (identity)', x: [1, 3, 3, 4], filter: 1, strides: 1, pad: 'valid' },
    { label: '1x1 [3, 2] strides', x: [2, 7, 5, 2], filter: 1, strides: [3, 2], pad: 'valid' },
    {
      label: '3x3 s2 same on ReLU output (ResNet stem)',
      x: [1, 8, 8, 4],
      filter: 3,
      strides: 2,
      pad: 'same',
      relu: true,
    },
  ] as const;
  for (const c of poolCases) {
    it(`equals the cpu stock gradient: ${c.label}`, async () => {
      const raw = tf.randomNormal([...c.x], 0, 1, 'float32', 11);
      const x = 'relu' in c ? tf.relu(raw) : tf.clone(raw);
      const f = (a: tf.Tensor) =>
        tf.maxPool(a as tf.Tensor4D, c.filter, c.strides as [number, number], c.pad);
      const dy = tf.randomNormal(f(x).shape, 0, 1, 'float32', 12);
      await tf.setBackend('cpu');
      const y = f(x);
      const expected = stockMaxPoolGrad.gradFunc(dy, [x, y], {
        filterSize: c.filter,
        strides: c.strides,
        pad: c.pad,
      } as never).x!();
      y.dispose();
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), dy)))(x);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(Array.from(dx.dataSync())).toEqual(
        Array.from(expected.dataSync()).map((v) => expect.closeTo(v, 6)),
      );
      tf.dispose([raw, x, dy, expected, dx]);
    });
  }
});
