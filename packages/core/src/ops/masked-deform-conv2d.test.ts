import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { mulberry32 } from '../samplers/seeded-random';
import { expectClose } from '../testing';
import { deformConv2d } from './deform-conv2d';
import { keptPositions, maskedDeformConv2d, scatterPositions } from './masked-deform-conv2d';
import { type DeformCase, type FixtureTensor, loadFixture, tensorOf } from './test-helpers';

const fixture = loadFixture<{ cases: DeformCase[] }>('deform-conv2d.json');

/** Forward only, float32 on wasm against torchvision run in float64 (as the dense op's test). */
const tolerance = { atol: 1e-4, rtol: 1e-4 };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Rows of a golden [B, Ho, Wo, C] tensor at flat positions. */
function goldenRows(golden: FixtureTensor, positions: Int32Array): number[] {
  const channels = golden.shape[3] as number;
  return Array.from(positions).flatMap((p) => golden.data.slice(p * channels, (p + 1) * channels));
}

/** A seeded random subset of the grid, about `fraction` of it, ascending. */
function randomPositions(total: number, fraction: number, seed: number): Int32Array {
  const random = mulberry32(seed);
  const kept: number[] = [];
  for (let p = 0; p < total; p += 1) if (random() < fraction) kept.push(p);
  return Int32Array.from(kept);
}

/** Rows [N, G·K] of the golden modulation at the kept positions. */
function compactRows(tensor: tf.Tensor, positions: Int32Array): tf.Tensor2D {
  const width = tensor.shape[tensor.rank - 1] as number;
  return tf.tidy(
    () =>
      tf.gatherND(
        tf.reshape(tensor, [-1, width]),
        tf.tensor2d(positions, [positions.length, 1], 'int32'),
      ) as tf.Tensor2D,
  );
}

describe('maskedDeformConv2d equals torchvision.ops.deform_conv2d at the kept positions', () => {
  for (const testCase of fixture.cases) {
    const [batch, outHeight, outWidth] = testCase.output.shape as [number, number, number];
    const total = batch * outHeight * outWidth;
    const subsets: [string, Int32Array][] = [
      ['a random 40 %', randomPositions(total, 0.4, 7)],
      ['a random 5 %, at least one', randomPositions(total, 0.05, 11)],
      ['every position', Int32Array.from({ length: total }, (_, i) => i)],
    ];
    for (const [label, picked] of subsets) {
      const positions = picked.length > 0 ? picked : Int32Array.of(total - 1);
      for (const sampling of ['host', 'tensor'] as const)
        it(`${testCase.name}, ${label}: dense and compact offsets, ${sampling} sampling`, () => {
          const before = tf.memory().numTensors;
          const input = tensorOf(testCase.input) as tf.Tensor4D;
          const offset = tensorOf(testCase.offset) as tf.Tensor4D;
          const filter = tensorOf(testCase.filter) as tf.Tensor4D;
          const bias = testCase.bias ? (tensorOf(testCase.bias) as tf.Tensor1D) : undefined;
          const mask = testCase.mask ? tensorOf(testCase.mask) : undefined;
          const modulation = mask ? compactRows(mask, positions) : undefined;
          const options = { ...testCase.options, bias, modulation, sampling };
          const want = goldenRows(testCase.output, positions);
          const fromDense = maskedDeformConv2d(input, offset, filter, positions, options);
          expect(fromDense.shape).toEqual([positions.length, testCase.output.shape[3]]);
          expectClose(fromDense, want, { ...tolerance, label: 'rows from dense offsets' });
          const compactOffset = compactRows(offset, positions);
          const fromCompact = maskedDeformConv2d(input, compactOffset, filter, positions, options);
          expectClose(fromCompact, want, { ...tolerance, label: 'rows from compact offsets' });
          tf.dispose([input, offset, filter, fromDense, compactOffset, fromCompact]);
          tf.dispose([bias, mask, modulation].filter((t) => t !== undefined));
          expect(tf.memory().numTensors).toBe(before);
        });
    }
  }

  it('scattered back, equals the dense op at kept positions and zero elsewhere', async () => {
    const testCase = fixture.cases[0] as DeformCase;
    const before = tf.memory().numTensors;
    const input = tensorOf(testCase.input) as tf.Tensor4D;
    const offset = tensorOf(testCase.offset) as tf.Tensor4D;
    const filter = tensorOf(testCase.filter) as tf.Tensor4D;
    const dense = deformConv2d(input, offset, filter, testCase.options);
    const [batch, outHeight, outWidth] = dense.shape;
    const keep = tf.tidy(() =>
      tf.greater(tf.randomUniform([batch, outHeight, outWidth], 0, 1, 'float32', 3), 0.5),
    );
    const positions = await keptPositions(keep);
    expect(positions.length).toBeGreaterThan(0);
    expect(positions.length).toBeLessThan(batch * outHeight * outWidth);
    const rows = maskedDeformConv2d(input, offset, filter, positions, testCase.options);
    const scattered = scatterPositions(rows, positions, [batch, outHeight, outWidth]);
    const expected = tf.tidy(() => tf.mul(dense, tf.expandDims(tf.cast(keep, 'float32'), 3)));
    expectClose(scattered, expected, { atol: 1e-5, rtol: 1e-5, label: 'scattered' });
    tf.dispose([input, offset, filter, dense, keep, rows, scattered, expected]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("on wasm, each kept row is the dense op's row bit for bit (the same module, at the kept positions only)", () => {
    let checked = 0;
    for (const testCase of fixture.cases) {
      if (testCase.mask) continue; // DCNv2's modulation takes the host columns, not the module
      const before = tf.memory().numTensors;
      const input = tensorOf(testCase.input) as tf.Tensor4D;
      const offset = tensorOf(testCase.offset) as tf.Tensor4D;
      const filter = tensorOf(testCase.filter) as tf.Tensor4D;
      const bias = testCase.bias ? (tensorOf(testCase.bias) as tf.Tensor1D) : undefined;
      const options = { ...testCase.options, bias };
      const dense = deformConv2d(input, offset, filter, options);
      const [batch, outHeight, outWidth, outChannels] = dense.shape;
      const positions = randomPositions(batch * outHeight * outWidth, 0.4, 13);
      const rows = maskedDeformConv2d(input, offset, filter, positions, {
        ...options,
        sampling: 'host',
      });
      const denseValues = dense.dataSync();
      const rowValues = rows.dataSync();
      positions.forEach((p, n) => {
        for (let o = 0; o < outChannels; o += 1) {
          const want = denseValues[p * outChannels + o] as number;
          const got = rowValues[n * outChannels + o] as number;
          if (!Object.is(got, want))
            throw new Error(
              `${testCase.name}: row ${n} (position ${p}) channel ${o}: ${got} vs ${want}`,
            );
        }
      });
      checked += positions.length;
      tf.dispose([input, offset, filter, dense, rows, bias].filter((t) => t !== undefined));
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('keeps nothing: an empty [0, O] result and no leak', async () => {
    const before = tf.memory().numTensors;
    const input = tf.ones([2, 5, 5, 3]) as tf.Tensor4D;
    const offset = tf.zeros([2, 5, 5, 18]) as tf.Tensor4D;
    const filter = tf.ones([3, 3, 3, 4]) as tf.Tensor4D;
    const nothing = tf.zeros([2, 5, 5]);
    const none = await keptPositions(nothing);
    nothing.dispose();
    expect(none.length).toBe(0);
    const rows = maskedDeformConv2d(input, offset, filter, none, { pad: 1 });
    expect(rows.shape).toEqual([0, 4]);
    const scattered = scatterPositions(rows, none, [2, 5, 5]);
    expect(Array.from(scattered.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([input, offset, filter, rows, scattered]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names bad positions, offsets and modulation', () => {
    const input = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
    const filter = tf.ones([3, 3, 2, 2]) as tf.Tensor4D;
    const offset = tf.zeros([1, 4, 4, 18]) as tf.Tensor4D;
    const run = (positions: Int32Array, o: tf.Tensor = offset, modulation?: tf.Tensor2D) =>
      maskedDeformConv2d(input, o, filter, positions, { pad: 1, modulation });
    expect(() => run(Int32Array.of(3, 1))).toThrow(
      /ascending flat indices in \[0, 16\).*got 1 at 1/,
    );
    expect(() => run(Int32Array.of(16))).toThrow(/got 16 at 0/);
    const wrong = tf.zeros([3, 18]);
    expect(() => run(Int32Array.of(0, 1), wrong)).toThrow(/offset must be \[N, .*\] = \[2, 18\]/);
    const badModulation = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(() => run(Int32Array.of(0, 1), offset, badModulation)).toThrow(/modulation must be/);
    tf.dispose([input, filter, offset, wrong, badModulation]);
  });
});
