import { initBackend, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GroupNorm2d } from './group-norm';
import { createResNet } from './resnet';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Wu & He 2018 eq. 1 written out element by element (NHWC), the reference for the tensor version. */
function referenceGroupNorm(
  values: Float32Array,
  [n, h, w, c]: [number, number, number, number],
  groups: number,
  eps: number,
): Float32Array {
  const out = new Float32Array(values.length);
  const size = c / groups;
  for (let image = 0; image < n; image++) {
    for (let group = 0; group < groups; group++) {
      const indices: number[] = [];
      for (let p = 0; p < h * w; p++)
        for (let k = 0; k < size; k++) indices.push((image * h * w + p) * c + group * size + k);
      const mean = indices.reduce((s, i) => s + values[i]!, 0) / indices.length;
      const variance = indices.reduce((s, i) => s + (values[i]! - mean) ** 2, 0) / indices.length;
      for (const i of indices) out[i] = (values[i]! - mean) / Math.sqrt(variance + eps);
    }
  }
  return out;
}

describe('GroupNorm2d', () => {
  it('matches eq. 1 of Wu & He 2018 and leaks no tensors', () => {
    const store = new ParameterStore();
    const norm = new GroupNorm2d(store, { channels: 6, groups: 3 });
    const shape: [number, number, number, number] = [2, 3, 4, 6];
    const input = tf.randomNormal(shape, 2, 3, 'float32', 7) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const output = norm.apply(input);
    expect(output.shape).toEqual(shape);
    const expected = referenceGroupNorm(input.dataSync() as Float32Array, shape, 3, 1e-5);
    const actual = output.dataSync();
    for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i]!, 4);
    output.dispose();
    expect(tf.memory().numTensors).toBe(before);
    input.dispose();
    store.dispose();
  });

  it('rejects a group count that does not divide the channels', () => {
    expect(() => new GroupNorm2d(new ParameterStore(), { channels: 6, groups: 4 })).toThrow(
      /groups 4 must be a positive divisor of channels 6/,
    );
  });
});

describe("ResNet norm: 'group'", () => {
  it('has GN weight/bias (no running stats) and gradients reach them', () => {
    const model = createResNet({ depth: 18, widthMultiplier: 0.25, norm: 'group', normGroups: 8 });
    const names = model.parameters.entries().map((entry) => entry.name);
    expect(names).toContain('layer1.0.bn1.weight');
    expect(names.some((name) => name.includes('running_mean'))).toBe(false);
    const images = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const { value, grads } = tf.variableGrads(() => {
      const outputs = model.apply(images, { training: true });
      return tf.mean(tf.square(outputs.c5)) as tf.Scalar;
    });
    const weight = model.parameters.entries().find((entry) => entry.name === 'layer4.1.bn1.weight');
    const grad = grads[weight!.variable.name];
    expect(grad).toBeDefined();
    expect(tf.tidy(() => tf.norm(grad!).dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([value, images, ...Object.values(grads)]);
    model.dispose();
  });
});
