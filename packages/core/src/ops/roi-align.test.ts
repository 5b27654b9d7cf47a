import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { expectClose } from '../testing';
import { multiLevelRoiAlign, roiLevels, roiLevelsOnHost } from './multi-level-roi-align';
import { type RoiAlignOptions, roiAlign } from './roi-align';
import { type FixtureTensor, loadFixture, tensorOf } from './test-helpers';

interface RoiCase {
  name: string;
  options: RoiAlignOptions;
  features: FixtureTensor;
  rois: FixtureTensor;
  batchIndices: number[];
  upstream: FixtureTensor;
  output: FixtureTensor;
  gradFeatures: FixtureTensor;
}

interface MultiLevelFixture {
  options: {
    outputSize: [number, number];
    samplingRatio: number;
    aligned: boolean;
    spatialScales: number[];
  };
  levels: FixtureTensor[];
  rois: FixtureTensor;
  batchIndices: number[];
  upstream: FixtureTensor;
  output: FixtureTensor;
  gradLevels: FixtureTensor[];
}

const single = loadFixture<{ cases: RoiCase[] }>('roi-align.json');

/** Every output and gradient: float32 on wasm against torchvision run in float64. */
const tolerance = { atol: 1e-4, rtol: 1e-4 };
const multi = loadFixture<MultiLevelFixture>('multi-level-roi-align.json');

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('roiAlign equals torchvision.ops.roi_align', () => {
  for (const testCase of single.cases) {
    it(`${testCase.name}: forward and feature gradient`, () => {
      const before = tf.memory().numTensors;
      const features = tensorOf(testCase.features) as tf.Tensor4D;
      const rois = tensorOf(testCase.rois) as tf.Tensor2D;
      const upstream = tensorOf(testCase.upstream);
      const output = roiAlign(features, rois, testCase.batchIndices, testCase.options);
      expectClose(output, testCase.output, { ...tolerance, label: 'output' });
      const grad = tf.grad((x) =>
        tf.sum(
          tf.mul(
            roiAlign(x as tf.Tensor4D, rois, testCase.batchIndices, testCase.options),
            upstream,
          ),
        ),
      )(features);
      expectClose(grad, testCase.gradFeatures, { ...tolerance, label: 'gradFeatures' });
      tf.dispose([features, rois, upstream, output, grad]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('accepts batch indices as a tensor', () => {
    const testCase = single.cases[0] as RoiCase;
    const features = tensorOf(testCase.features) as tf.Tensor4D;
    const rois = tensorOf(testCase.rois) as tf.Tensor2D;
    const indices = tf.tensor1d(testCase.batchIndices, 'int32');
    const output = roiAlign(features, rois, indices, testCase.options);
    expectClose(output, testCase.output, { ...tolerance, label: 'output' });
    tf.dispose([features, rois, indices, output]);
  });

  it('returns [0, oh, ow, C] for no RoIs, with a gradient', () => {
    const features = tf.ones([1, 4, 4, 3]) as tf.Tensor4D;
    const rois = tf.zeros([0, 4]) as tf.Tensor2D;
    const output = roiAlign(features, rois, [], { outputSize: [2, 3] });
    expect(output.shape).toEqual([0, 2, 3, 3]);
    const grad = tf.grad((x) => tf.sum(roiAlign(x as tf.Tensor4D, rois, [], { outputSize: 2 })))(
      features,
    );
    expect(Array.from(grad.dataSync())).toEqual(new Array(48).fill(0));
    tf.dispose([features, rois, output, grad]);
  });

  it('names the bad field', () => {
    const features = tf.ones([1, 4, 4, 3]) as tf.Tensor4D;
    const rois = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(() => roiAlign(features, rois, [0], { outputSize: 2 })).toThrow(
      /batchIndices has 1 entries for 2 rois/,
    );
    expect(() => roiAlign(features, rois, [0, 3], { outputSize: 2 })).toThrow(
      /batchIndices must be integers/,
    );
    expect(() => roiAlign(features, rois, [0, 0], { outputSize: 0 })).toThrow(/outputSize/);
    tf.dispose([features, rois]);
  });
});

describe('multiLevelRoiAlign equals torchvision MultiScaleRoIAlign', () => {
  it('P2–P5: forward and every level gradient', () => {
    const before = tf.memory().numTensors;
    const levels = multi.levels.map((level) => tensorOf(level) as tf.Tensor4D);
    const rois = tensorOf(multi.rois) as tf.Tensor2D;
    const upstream = tensorOf(multi.upstream);
    const assigned = roiLevels(rois, multi.options);
    // The fixture's RoIs are chosen to land on every level.
    expect(new Set(assigned.dataSync()).size).toBe(4);
    const output = multiLevelRoiAlign(levels, rois, multi.batchIndices, multi.options);
    expectClose(output, multi.output, { ...tolerance, label: 'output' });
    const grads = tf.grads((...xs: tf.Tensor[]) =>
      tf.sum(
        tf.mul(
          multiLevelRoiAlign(xs as tf.Tensor4D[], rois, multi.batchIndices, multi.options),
          upstream,
        ),
      ),
    )(levels);
    grads.forEach((grad, i) => {
      expectClose(grad, multi.gradLevels[i] as FixtureTensor, {
        ...tolerance,
        label: `gradLevels[${i}]`,
      });
    });
    tf.dispose([...levels, rois, upstream, assigned, output, ...grads]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('host rois (Float32Array): the same levels, output and gradients, with no readback', () => {
    const before = tf.memory().numTensors;
    const levels = multi.levels.map((level) => tensorOf(level) as tf.Tensor4D);
    const hostRois = Float32Array.from(multi.rois.data);
    const rois = tensorOf(multi.rois) as tf.Tensor2D;
    const assigned = roiLevels(rois, multi.options);
    expect(Array.from(roiLevelsOnHost(hostRois, multi.options))).toEqual(
      Array.from(assigned.dataSync()),
    );
    const upstream = tensorOf(multi.upstream);
    const output = multiLevelRoiAlign(levels, hostRois, multi.batchIndices, multi.options);
    expectClose(output, multi.output, { ...tolerance, label: 'output' });
    const grads = tf.grads((...xs: tf.Tensor[]) =>
      tf.sum(
        tf.mul(
          multiLevelRoiAlign(xs as tf.Tensor4D[], hostRois, multi.batchIndices, multi.options),
          upstream,
        ),
      ),
    )(levels);
    grads.forEach((grad, i) => {
      expectClose(grad, multi.gradLevels[i] as FixtureTensor, {
        ...tolerance,
        label: `gradLevels[${i}]`,
      });
    });
    tf.dispose([...levels, rois, assigned, upstream, output, ...grads]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('returns [0, oh, ow, C] for no RoIs', () => {
    const levels = [tf.ones([1, 8, 8, 2]), tf.ones([1, 4, 4, 2])] as tf.Tensor4D[];
    const rois = tf.zeros([0, 4]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const output = multiLevelRoiAlign(levels, rois, [], {
      outputSize: 3,
      spatialScales: [0.25, 0.125],
    });
    expect(output.shape).toEqual([0, 3, 3, 2]);
    output.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...levels, rois]);
  });

  it('names a level/scale mismatch', () => {
    const level = tf.zeros([1, 8, 8, 2]) as tf.Tensor4D;
    const rois = tf.zeros([1, 4]) as tf.Tensor2D;
    expect(() =>
      multiLevelRoiAlign([level], rois, [0], { outputSize: 2, spatialScales: [0.25, 0.125] }),
    ).toThrow(/1 levels but 2 spatialScales/);
    tf.dispose([level, rois]);
  });
});

describe('roiAlign with host rois', () => {
  for (const testCase of single.cases) {
    it(`${testCase.name}: a Float32Array of rois gives the tensor path's result`, () => {
      const before = tf.memory().numTensors;
      const features = tensorOf(testCase.features) as tf.Tensor4D;
      const output = roiAlign(
        features,
        Float32Array.from(testCase.rois.data),
        testCase.batchIndices,
        testCase.options,
      );
      expectClose(output, testCase.output, { ...tolerance, label: 'output' });
      tf.dispose([features, output]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('names a host roi array whose length is not a multiple of 4', () => {
    const features = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(() => roiAlign(features, new Float32Array(5), [0], { outputSize: 2 })).toThrow(
      /host rois must hold 4 numbers .* got 5/,
    );
    features.dispose();
  });
});

describe('roiAlign: the host path gives the tensor path’s bits', () => {
  /** Output and feature gradient through one sampling path. */
  function run(
    sampling: 'host' | 'tensor',
    features: tf.Tensor4D,
    rois: tf.Tensor2D,
    batchIndices: number[],
    upstream: tf.Tensor,
    options: RoiAlignOptions,
  ) {
    const settings = { ...options, sampling };
    const output = roiAlign(features, rois, batchIndices, settings);
    const grad = tf.grad((x) =>
      tf.sum(tf.mul(roiAlign(x as tf.Tensor4D, rois, batchIndices, settings), upstream)),
    )(features);
    const values = [
      new Uint32Array(output.dataSync().buffer),
      new Uint32Array(grad.dataSync().buffer),
    ];
    tf.dispose([output, grad]);
    return values;
  }

  /** A seeded stream in [0, 1). */
  function stream(seed: number) {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
  }

  const generated = [
    {
      name: 'adaptive grids, 2 images',
      batch: 2,
      size: [20, 24],
      channels: 5,
      rois: 23,
      aligned: false,
      samplingRatio: -1,
      scale: 0.25,
      outputSize: [7, 7] as [number, number],
    },
    {
      name: 'aligned, ratio 2, 3 images',
      batch: 3,
      size: [9, 13],
      channels: 8,
      rois: 17,
      aligned: true,
      samplingRatio: 2,
      scale: 0.5,
      outputSize: [3, 4] as [number, number],
    },
    {
      name: 'RoIs past the map and tiny ones',
      batch: 1,
      size: [6, 5],
      channels: 3,
      rois: 11,
      aligned: false,
      samplingRatio: -1,
      scale: 1,
      outputSize: [2, 2] as [number, number],
    },
  ];
  for (const c of generated) {
    it(`${c.name}: output and feature gradient, bit for bit`, () => {
      const before = tf.memory().numTensors;
      const random = stream(c.rois * 7 + c.channels);
      const [h, w] = c.size as [number, number];
      const features = tf.tensor4d(
        Float32Array.from({ length: c.batch * h * w * c.channels }, () => random() * 2 - 1),
        [c.batch, h, w, c.channels],
      );
      const imageH = h / c.scale;
      const imageW = w / c.scale;
      const boxes: number[] = [];
      for (let k = 0; k < c.rois; k++) {
        // Some boxes start before the image or end past it; some are under a pixel.
        const x1 = random() * imageW * 1.2 - imageW * 0.1;
        const y1 = random() * imageH * 1.2 - imageH * 0.1;
        const tiny = k % 5 === 4;
        boxes.push(
          x1,
          y1,
          x1 + (tiny ? random() : random() * imageW * 0.8),
          y1 + (tiny ? random() : random() * imageH * 0.8),
        );
      }
      const rois = tf.tensor2d(boxes, [c.rois, 4]);
      const batchIndices = Array.from({ length: c.rois }, (_, k) => k % c.batch);
      const [oh, ow] = c.outputSize;
      const upstream = tf.tensor4d(
        Float32Array.from({ length: c.rois * oh * ow * c.channels }, () => random() * 2 - 1),
        [c.rois, oh, ow, c.channels],
      );
      const options: RoiAlignOptions = {
        outputSize: c.outputSize,
        spatialScale: c.scale,
        samplingRatio: c.samplingRatio,
        aligned: c.aligned,
      };
      const tensorPath = run('tensor', features, rois, batchIndices, upstream, options);
      const hostPath = run('host', features, rois, batchIndices, upstream, options);
      expect(hostPath[0]).toEqual(tensorPath[0]);
      expect(hostPath[1]).toEqual(tensorPath[1]);
      // Something was pooled and something flowed back.
      expect(tensorPath[0]?.some((bits) => bits !== 0)).toBe(true);
      expect(tensorPath[1]?.some((bits) => bits !== 0)).toBe(true);
      tf.dispose([features, rois, upstream]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  for (const testCase of single.cases) {
    it(`${testCase.name}: the torchvision case, bit for bit`, () => {
      const features = tensorOf(testCase.features) as tf.Tensor4D;
      const rois = tensorOf(testCase.rois) as tf.Tensor2D;
      const upstream = tensorOf(testCase.upstream);
      const tensorPath = run(
        'tensor',
        features,
        rois,
        testCase.batchIndices,
        upstream,
        testCase.options,
      );
      const hostPath = run(
        'host',
        features,
        rois,
        testCase.batchIndices,
        upstream,
        testCase.options,
      );
      expect(hostPath[0]).toEqual(tensorPath[0]);
      expect(hostPath[1]).toEqual(tensorPath[1]);
      tf.dispose([features, rois, upstream]);
    });
  }
});
