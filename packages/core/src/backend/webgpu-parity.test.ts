import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { deformConv2d } from '../ops/deform-conv2d';
import { maskedDeformConv2d } from '../ops/masked-deform-conv2d';
import { multiLevelRoiAlign } from '../ops/multi-level-roi-align';
import { roiAlign } from '../ops/roi-align';
import { type DeformCase, type FixtureTensor, loadFixture } from '../ops/test-helpers';
import { PseudoSampler } from '../samplers/pseudo-sampler';
import { RandomSampler } from '../samplers/random-sampler';
import { onBackend } from '../testing/backends';
import { readAsync } from './readback';

/**
 * The webgpu code path on whatever adapter Dawn gives — lavapipe (software Vulkan) on a CPU
 * machine, installed by scripts/install-lavapipe.sh. Never skipped: a machine without a
 * Vulkan driver fails here with the reason.
 *
 * webgpu in Node cannot read back synchronously (tfjs-backend-webgpu's readSync draws through
 * an OffscreenCanvas, which Node lacks), so every read below is `await data()`.
 */

async function values(tensor: tf.Tensor): Promise<Float32Array> {
  return (await tensor.data()) as Float32Array;
}

/** NaN-safe: a NaN anywhere fails, because `!(err <= tol)` is true for NaN. */
function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  atol: number,
  rtol: number,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i += 1) {
    const want = expected[i] as number;
    const got = actual[i] as number;
    const error = Math.abs(got - want);
    if (!(error <= atol + rtol * Math.abs(want))) {
      expect.fail(`${what}[${i}]: got ${got}, expected ${want} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

const tensorOf = (fixture: FixtureTensor) => tf.tensor(fixture.data, fixture.shape, 'float32');

beforeAll(async () => {
  try {
    const info = await initBackend({ backend: 'webgpu', allowSoftwareAdapter: true });
    expect(info.name).toBe('webgpu');
    expect(info.adapter).toBeDefined();
  } catch (error) {
    throw new Error(
      `the webgpu parity suite needs a Vulkan driver (on a CPU machine: run scripts/install-lavapipe.sh as root): ${(error as Error).message}`,
    );
  }
});

describe('webgpu (Dawn) runs det training ops and matches the reference', () => {
  it('initBackend reports the adapter and marks a software one', async () => {
    const info = await initBackend({ backend: 'webgpu', allowSoftwareAdapter: true });
    expect(info.device.length).toBeGreaterThan(0);
    expect(typeof info.adapter?.software).toBe('boolean');
  });

  // Dilation 1 only: stock tfjs refuses dilated Conv2D gradients on every backend, and det's
  // override (built from forward convs) is installed only where a backprop kernel is missing.
  it('conv2d forward, input and filter gradients (stride 1 and 2, same and valid) equal cpu', async () => {
    const inputData = Float32Array.from({ length: 2 * 9 * 8 * 3 }, (_, i) => Math.sin(i * 0.37));
    const filterData = Float32Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i * 0.53));
    for (const [strides, padding] of [
      [2, 'same'],
      [1, 'valid'],
    ] as const) {
      const compute = async () => {
        const before = tf.memory().numTensors;
        const input = tf.tensor4d(inputData, [2, 9, 8, 3]);
        const filter = tf.tensor4d(filterData, [3, 3, 3, 4]);
        const f = (x: tf.Tensor, w: tf.Tensor) =>
          tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, padding);
        const output = f(input, filter);
        const upstream = tf.tidy(() => tf.sin(tf.range(0, output.size).reshape(output.shape)));
        const [gInput, gFilter] = tf.grads((x, w) => tf.sum(tf.mul(f(x, w), upstream)))([
          input,
          filter,
        ]);
        const result = await Promise.all(
          [output, gInput, gFilter].map((t) => values(t as tf.Tensor)),
        );
        tf.dispose([input, filter, output, upstream, gInput, gFilter]);
        expect(tf.memory().numTensors).toBe(before);
        return result;
      };
      const gpu = await compute();
      const cpu = await onBackend('cpu', compute);
      for (const [i, what] of ['output', 'grad input', 'grad filter'].entries()) {
        expectAllClose(gpu[i] as Float32Array, cpu[i] as Float32Array, what, 1e-4, 1e-4);
      }
    }
  });

  describe('deformConv2d equals torchvision.ops.deform_conv2d on webgpu', () => {
    const fixture = loadFixture<{ cases: DeformCase[] }>('deform-conv2d.json');
    for (const testCase of fixture.cases) {
      it(`${testCase.name}: forward, input and filter gradients`, async () => {
        const before = tf.memory().numTensors;
        const input = tensorOf(testCase.input) as tf.Tensor4D;
        const offset = tensorOf(testCase.offset) as tf.Tensor4D;
        const filter = tensorOf(testCase.filter) as tf.Tensor4D;
        const upstream = tensorOf(testCase.upstream);
        const bias = testCase.bias ? (tensorOf(testCase.bias) as tf.Tensor1D) : undefined;
        const mask = testCase.mask ? (tensorOf(testCase.mask) as tf.Tensor4D) : undefined;
        const run = (x: tf.Tensor, w: tf.Tensor) =>
          deformConv2d(x as tf.Tensor4D, offset, w as tf.Tensor4D, {
            ...testCase.options,
            bias,
            mask,
          });
        const output = run(input, filter);
        const [gInput, gFilter] = tf.grads((x, w) => tf.sum(tf.mul(run(x, w), upstream)))([
          input,
          filter,
        ]);
        expectAllClose(await values(output), testCase.output.data, 'output', 1e-4, 1e-4);
        expectAllClose(
          await values(gInput as tf.Tensor),
          testCase.gradInput.data,
          'grad input',
          1e-4,
          1e-4,
        );
        expectAllClose(
          await values(gFilter as tf.Tensor),
          testCase.gradFilter.data,
          'grad filter',
          1e-4,
          1e-4,
        );
        tf.dispose([input, offset, filter, upstream, output, gInput, gFilter]);
        if (bias) bias.dispose();
        if (mask) mask.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });

      it(`${testCase.name}: maskedDeformConv2d at every third position`, async () => {
        const before = tf.memory().numTensors;
        const [batch, outHeight, outWidth, outChannels] = testCase.output.shape as number[];
        const positions = Int32Array.from(
          {
            length: Math.ceil(
              ((batch as number) * (outHeight as number) * (outWidth as number)) / 3,
            ),
          },
          (_, i) => i * 3,
        );
        const input = tensorOf(testCase.input) as tf.Tensor4D;
        const offset = tensorOf(testCase.offset) as tf.Tensor4D;
        const filter = tensorOf(testCase.filter) as tf.Tensor4D;
        const bias = testCase.bias ? (tensorOf(testCase.bias) as tf.Tensor1D) : undefined;
        const modulation = testCase.mask
          ? (tf.tidy(() =>
              tf.gatherND(
                tf.reshape(tensorOf(testCase.mask as FixtureTensor), [
                  -1,
                  (testCase.mask as FixtureTensor).shape[3] as number,
                ]),
                tf.tensor2d(positions, [positions.length, 1], 'int32'),
              ),
            ) as tf.Tensor2D)
          : undefined;
        const rows = maskedDeformConv2d(input, offset, filter, positions, {
          ...testCase.options,
          bias,
          modulation,
        });
        const channels = outChannels as number;
        const want = Array.from(positions).flatMap((p) =>
          testCase.output.data.slice(p * channels, (p + 1) * channels),
        );
        expectAllClose(await values(rows), want, 'rows', 1e-4, 1e-4);
        tf.dispose([input, offset, filter, rows]);
        tf.dispose([bias, modulation].filter((t) => t !== undefined));
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });

  describe('roiAlign equals torchvision.ops.roi_align on webgpu', () => {
    const fixture = loadFixture<{
      cases: {
        name: string;
        options: Parameters<typeof roiAlign>[3];
        features: FixtureTensor;
        rois: FixtureTensor;
        batchIndices: number[];
        upstream: FixtureTensor;
        output: FixtureTensor;
        gradFeatures: FixtureTensor;
      }[];
    }>('roi-align.json');
    for (const testCase of fixture.cases) {
      it(`${testCase.name}: forward and feature gradient`, async () => {
        const before = tf.memory().numTensors;
        const features = tensorOf(testCase.features) as tf.Tensor4D;
        // Host rois: adaptive sampling then needs no readback, which webgpu in Node lacks.
        const rois = Float32Array.from(testCase.rois.data);
        const upstream = tensorOf(testCase.upstream);
        const run = (x: tf.Tensor) =>
          roiAlign(x as tf.Tensor4D, rois, testCase.batchIndices, testCase.options);
        const output = run(features);
        const grad = tf.grad((x) => tf.sum(tf.mul(run(x), upstream)))(features);
        expectAllClose(await values(output), testCase.output.data, 'output', 1e-4, 1e-4);
        expectAllClose(await values(grad), testCase.gradFeatures.data, 'grad', 1e-4, 1e-4);
        tf.dispose([features, upstream, output, grad]);
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });

  it('multiLevelRoiAlign on host rois equals torchvision MultiScaleRoIAlign on webgpu', async () => {
    const multi = loadFixture<{
      options: Parameters<typeof multiLevelRoiAlign>[3];
      levels: FixtureTensor[];
      rois: FixtureTensor;
      batchIndices: number[];
      upstream: FixtureTensor;
      output: FixtureTensor;
      gradLevels: FixtureTensor[];
    }>('multi-level-roi-align.json');
    const before = tf.memory().numTensors;
    const levels = multi.levels.map((level) => tensorOf(level) as tf.Tensor4D);
    const rois = Float32Array.from(multi.rois.data);
    const upstream = tensorOf(multi.upstream);
    const run = (xs: tf.Tensor[]) =>
      multiLevelRoiAlign(xs as tf.Tensor4D[], rois, multi.batchIndices, multi.options);
    const output = run(levels);
    const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(run(xs), upstream)))(levels);
    expectAllClose(await values(output), multi.output.data, 'output', 1e-4, 1e-4);
    for (const [i, grad] of grads.entries()) {
      expectAllClose(
        await values(grad),
        (multi.gradLevels[i] as FixtureTensor).data,
        `grad level ${i}`,
        1e-4,
        1e-4,
      );
    }
    tf.dispose([...levels, upstream, output, ...grads]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('samplers with awaited reads (top-k of seeded keys, cumsum/scatter index selection) equal cpu', async () => {
    // 300 priors: 20 positives (gt 1..4), 210 negatives, 70 ignored.
    const gtIndices = Int32Array.from({ length: 300 }, (_, i) =>
      i % 15 === 0 ? 1 + (i % 4) : i % 4 === 1 ? -1 : 0,
    );
    const sample = async () => {
      const before = tf.memory().numTensors;
      const assignment = {
        numGts: 4,
        gtIndices: tf.tensor1d(gtIndices, 'int32'),
        maxOverlaps: tf.zeros([300]) as tf.Tensor1D,
        labels: null,
      };
      const priors = tf.tidy(() =>
        tf.reshape(tf.range(0, 1200, 1, 'float32'), [300, 4]),
      ) as tf.Tensor2D;
      const gts = tf.zeros([4, 4]) as tf.Tensor2D;
      const out: number[][] = [];
      for (const sampler of [
        new RandomSampler({ num: 64, posFraction: 0.25, seed: 7 }),
        new PseudoSampler(),
      ]) {
        const result = await readAsync(sampler.sampleSteps(assignment, priors, gts));
        for (const t of [result.posIndices, result.negIndices, result.posGtIndices]) {
          out.push(Array.from(await t.data()));
        }
        tf.dispose([result.posIndices, result.negIndices, result.posGtIndices, result.candidates]);
      }
      tf.dispose([assignment.gtIndices, assignment.maxOverlaps, priors, gts]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const gpu = await sample();
    const cpu = await onBackend('cpu', sample);
    expect(gpu).toEqual(cpu);
    // RandomSampler: 16 of 20 positives, 48 of 210 negatives; PseudoSampler: all of them.
    expect(gpu.map((indices) => indices.length)).toEqual([16, 48, 16, 20, 210, 20]);
  });
});
