import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './init-backend';
import { registerWasmKernels, stockWasmKernels } from './wasm-kernels';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Runs the stock wasm kernel `name` on the same inputs (outputs as tensors). */
function stock(name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor[] {
  const config = stockWasmKernels.get(name);
  if (!config) throw new Error(`no stock ${name}`);
  const backend = tf.backend();
  const out = config.kernelFunc({
    inputs,
    attrs: attrs as tf.NamedAttrMap,
    backend,
  });
  const infos = Array.isArray(out) ? out : [out];
  return infos.map((info) => tf.engine().makeTensorFromTensorInfo(info));
}

describe('wasm kernel replacements', () => {
  it('are registered on wasm only, once', () => {
    expect(registerWasmKernels('cpu')).toEqual([]);
    expect(registerWasmKernels('wasm')).toEqual([
      'Slice',
      'SplitV',
      'Unpack',
      'MaxPoolGrad',
      'Transpose',
      'BatchMatMul',
      'Concat',
    ]);
    expect([...stockWasmKernels.keys()].sort()).toEqual([
      'BatchMatMul',
      'Concat',
      'MaxPoolGrad',
      'Slice',
      'SplitV',
      'Transpose',
      'Unpack',
    ]);
  });

  const sliceCases: Array<[string, number[], number[], number[]]> = [
    ['a column of [N, 4] boxes', [37, 4], [0, 2], [37, 1]],
    ['a spatial crop of NHWC', [2, 9, 8, 3], [0, 1, 2, 0], [2, 7, 5, 3]],
    ['channels of NHWC', [2, 5, 5, 40], [1, 0, 0, 3], [1, 5, 5, 35]],
    ['contiguous rows', [6, 10], [2, 0], [3, 10]],
    ['the whole tensor', [3, 4, 5], [0, 0, 0], [3, 4, 5]],
    ['rank 5', [2, 3, 4, 5, 6], [1, 1, 0, 2, 1], [1, 2, 4, 2, 4]],
    ['empty', [4, 3], [1, 0], [0, 3]],
  ];
  for (const [label, shape, begin, size] of sliceCases) {
    it(`Slice equals the stock kernel: ${label}`, () => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
      const before = tf.memory().numTensors;
      const got = tf.slice(x, begin, size);
      expect(tf.memory().numTensors).toBe(before + 1);
      const [expected] = stock('Slice', { x }, { begin, size });
      expect(got.shape).toEqual(size);
      expect(Array.from(got.dataSync())).toEqual(Array.from(expected!.dataSync()));
      tf.dispose([x, got, expected!]);
    });
  }

  const transposeCases: Array<[string, number[], number[]]> = [
    ['NHWC → CHWN (filter gradient input)', [2, 5, 6, 3], [3, 1, 2, 0]],
    ['rank-6 filter shuffle', [2, 2, 2, 2, 3, 5], [0, 2, 5, 1, 3, 4]],
    ['matrix', [7, 3], [1, 0]],
    ['innermost kept', [2, 4, 3, 5], [1, 2, 0, 3]],
    ['size-1 axes', [1, 4, 1, 3], [3, 2, 0, 1]],
    ['identity', [3, 4], [0, 1]],
    ['empty', [0, 3], [1, 0]],
  ];
  for (const [label, shape, perm] of transposeCases) {
    it(`Transpose equals the stock kernel: ${label}`, () => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
      const before = tf.memory().numTensors;
      const got = tf.transpose(x, perm);
      expect(tf.memory().numTensors).toBe(before + 1);
      const [expected] = stock('Transpose', { x }, { perm });
      expect(got.shape).toEqual(expected!.shape);
      expect(Array.from(got.dataSync())).toEqual(Array.from(expected!.dataSync()));
      tf.dispose([x, got, expected!]);
    });
  }

  const matMulCases: Array<[string, number[], number[], boolean, boolean]> = [
    ['a dense layer’s filter gradient (aᵀ · dy)', [64, 392], [64, 32], true, false],
    ['a dense layer’s input gradient (dy · bᵀ)', [64, 32], [392, 32], false, true],
    ['both transposed', [17, 5], [9, 17], true, true],
    ['batched, b broadcast', [3, 7, 5], [1, 6, 5], false, true],
    ['batched aᵀ', [2, 4, 6], [2, 4, 3], true, false],
    ['plain (untouched)', [8, 4], [4, 5], false, false],
  ];
  for (const [label, aShape, bShape, transposeA, transposeB] of matMulCases) {
    it(`BatchMatMul equals the cpu backend and the stock kernel to float32 rounding: ${label}`, async () => {
      const a = tf.randomNormal(aShape, 0, 1, 'float32', 5);
      const b = tf.randomNormal(bShape, 0, 1, 'float32', 6);
      const before = tf.memory().numTensors;
      const got = tf.matMul(a, b, transposeA, transposeB);
      expect(tf.memory().numTensors).toBe(before + 1);
      const [expected] = stock('BatchMatMul', { a, b }, { transposeA, transposeB });
      const values = Array.from(got.dataSync());
      const stockValues = Array.from((expected as tf.Tensor).dataSync());
      const aValues = a.arraySync();
      const bValues = b.arraySync();
      await tf.setBackend('cpu');
      const onCpu = tf.matMul(tf.tensor(aValues), tf.tensor(bValues), transposeA, transposeB);
      const cpuValues = Array.from(onCpu.dataSync());
      onCpu.dispose();
      await tf.setBackend('wasm');
      expect(got.shape).toEqual((expected as tf.Tensor).shape);
      // float32 sums of K products in another order: within K·2⁻²⁴ of the terms' magnitude.
      const depth = transposeA
        ? (aShape[aShape.length - 2] as number)
        : (aShape[aShape.length - 1] as number);
      const bound = depth * 2 ** -24 * 4;
      values.forEach((value, i) => {
        const scale = Math.max(1, Math.abs(cpuValues[i] as number));
        expect(Math.abs(value - (cpuValues[i] as number)) / scale).toBeLessThan(bound);
        expect(Math.abs(value - (stockValues[i] as number)) / scale).toBeLessThan(bound);
      });
      tf.dispose([a, b, got, expected as tf.Tensor]);
    });
  }

  const concatCases: Array<[string, number[][], number, 'float32' | 'int32' | 'bool']> = [
    [
      'a bias column and filters (MetaAnchor)',
      [
        [3200, 1],
        [3200, 16],
      ],
      1,
      'float32',
    ],
    [
      'NHWC channels, long and short runs',
      [
        [2, 5, 5, 40],
        [2, 5, 5, 3],
        [2, 5, 5, 0],
      ],
      3,
      'float32',
    ],
    [
      'middle axis, int32',
      [
        [3, 2, 4],
        [3, 5, 4],
      ],
      1,
      'int32',
    ],
    [
      'bool columns',
      [
        [6, 2],
        [6, 1],
      ],
      1,
      'bool',
    ],
    [
      'axis 0 (the stock kernel)',
      [
        [2, 3],
        [4, 3],
      ],
      0,
      'float32',
    ],
    [
      'one non-empty input',
      [
        [4, 0],
        [4, 3],
      ],
      1,
      'float32',
    ],
  ];
  for (const [label, shapes, axis, dtype] of concatCases) {
    it(`Concat equals the stock kernel: ${label}`, () => {
      const parts = shapes.map((shape, i) =>
        dtype === 'bool'
          ? tf.greater(tf.randomNormal(shape, 0, 1, 'float32', 20 + i), 0)
          : tf.cast(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 10 + i), 100), dtype),
      );
      const before = tf.memory().numTensors;
      const got = tf.concat(parts, axis);
      expect(tf.memory().numTensors).toBe(before + 1);
      const [expected] = stock('Concat', parts as unknown as tf.NamedTensorMap, { axis });
      expect(got.shape).toEqual((expected as tf.Tensor).shape);
      expect(got.dtype).toBe(dtype);
      expect(Array.from(got.dataSync())).toEqual(Array.from((expected as tf.Tensor).dataSync()));
      tf.dispose([...parts, got, expected as tf.Tensor]);
    });
  }

  it('Slice keeps int32 and bool values', () => {
    const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    expect(Array.from(tf.slice(ints, [0, 1], [3, 1]).dataSync())).toEqual([2, 4, 6]);
    const bools = tf.tensor2d([true, false, false, true], [2, 2], 'bool');
    expect(Array.from(tf.slice(bools, [0, 1], [2, 1]).dataSync())).toEqual([0, 1]);
    tf.dispose([ints, bools]);
  });

  it('SplitV and Unpack equal the stock kernels on the columns of boxes', () => {
    const boxes = tf.randomNormal([19, 4], 0, 1, 'float32', 4);
    const before = tf.memory().numTensors;
    const split = tf.split(boxes, [1, 2, 1], 1);
    const unstacked = tf.unstack(boxes, 1);
    expect(tf.memory().numTensors).toBe(before + 7);
    const stockSplit = stock('SplitV', { x: boxes }, { numOrSizeSplits: [1, 2, 1], axis: 1 });
    const stockUnpack = stock('Unpack', { value: boxes }, { axis: 1 });
    expect(split.map((t) => t.shape)).toEqual([
      [19, 1],
      [19, 2],
      [19, 1],
    ]);
    for (let i = 0; i < 3; i++) {
      expect(Array.from(split[i]!.dataSync())).toEqual(Array.from(stockSplit[i]!.dataSync()));
    }
    for (let i = 0; i < 4; i++) {
      expect(unstacked[i]!.shape).toEqual([19]);
      expect(Array.from(unstacked[i]!.dataSync())).toEqual(Array.from(stockUnpack[i]!.dataSync()));
    }
    tf.dispose([boxes, ...split, ...unstacked, ...stockSplit, ...stockUnpack]);
  });

  const poolCases = [
    { label: '3x3 s2 same (ResNet stem)', x: [2, 9, 8, 5], filter: 3, strides: 2, pad: 'same' },
    { label: '2x2 s2 valid', x: [1, 6, 6, 3], filter: 2, strides: 2, pad: 'valid' },
    { label: '3x3 s1 pad 1', x: [1, 5, 7, 2], filter: 3, strides: 1, pad: 1 },
  ] as const;
  for (const c of poolCases) {
    it(`MaxPoolGrad equals the cpu kernel, negative windows included: ${c.label}`, async () => {
      // Plain normal values: many windows are all negative, which the stock wasm kernel drops.
      const x = tf.randomNormal([...c.x], 0, 1, 'float32', 5) as tf.Tensor4D;
      const attrs = { filterSize: c.filter, strides: c.strides, pad: c.pad };
      await tf.setBackend('cpu');
      const y = tf.maxPool(x, c.filter, c.strides, c.pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 6);
      const expected = tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, attrs);
      const expectedValues = Array.from((expected as tf.Tensor).dataSync());
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const got = tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, attrs);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(Array.from((got as tf.Tensor).dataSync())).toEqual(expectedValues);
      expect(expectedValues.filter((v) => v !== 0).length).toBeGreaterThan(0);
      tf.dispose([x, y, dy, expected as tf.Tensor, got as tf.Tensor]);
    });
  }
});
