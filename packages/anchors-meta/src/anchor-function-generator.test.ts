import { Conv2d, initBackend, ParameterStore, priorProbabilityBias } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnchorFunctionGenerator } from './anchor-function-generator';

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

const codes3 = [
  [0, 0],
  [-0.7, 0.3],
  [0.4, -0.2],
];

describe('AnchorFunctionGenerator (eq. 4–6)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('generates A filter sets in the dense head layout: slice a is θ_{b_a} generated alone', () => {
    const store = new ParameterStore();
    const generator = new AnchorFunctionGenerator({
      store: store.scope('retina_cls'),
      inChannels: 3,
      outChannels: 2,
      hiddenSize: 8,
      biasInit: priorProbabilityBias(0.01),
      residualInit: (shape) => tf.randomNormal(shape, 0, 0.1, 'float32', 5),
    });
    expect(store.entries().map((e) => [e.name, e.variable.shape])).toEqual([
      ['retina_cls.weight', [3, 3, 3, 2]],
      ['retina_cls.bias', [2]],
      ['retina_cls.generator.w1', [2, 8]],
      ['retina_cls.generator.w2', [8, 3 * 3 * 3 * 2]],
      ['retina_cls.generator.w2_bias', [8, 2]],
    ]);
    const before = tf.memory().numTensors;
    const codes = tf.tensor2d(codes3);
    const [all] = generator.generate(codes);
    expect(all!.filter.shape).toEqual([3, 3, 3, 6]);
    expect(all!.bias.shape).toEqual([6]);
    for (let a = 0; a < 3; a++) {
      const single = tf.tensor2d([codes3[a]!]);
      const [alone] = generator.generate(single);
      const slice = tf.slice(all!.filter, [0, 0, 0, a * 2], [3, 3, 3, 2]);
      expect(maxAbsDiff(slice, alone!.filter)).toBeLessThan(1e-7);
      // θ_b = θ* + W2 · relu(W1 · b), computed here from the parameters directly.
      const expected = tf.tidy(() => {
        const hidden = tf.relu(tf.matMul(single, generator.codeWeight as tf.Tensor2D));
        const theta = tf.matMul(hidden, generator.residualWeight as tf.Tensor2D);
        return tf.add(tf.reshape(tf.slice(theta, [0, 0], [1, 54]), [3, 3, 3, 2]), generator.weight);
      });
      expect(maxAbsDiff(alone!.filter, expected)).toBeLessThan(1e-6);
      const biasSlice = tf.slice(all!.bias, [a * 2], [2]);
      expect(maxAbsDiff(biasSlice, alone!.bias)).toBeLessThan(1e-7);
      tf.dispose([single, alone!.filter, alone!.bias, slice, biasSlice, expected]);
    }
    // The standard box (b = 0) gives exactly θ*: eq. 5 has no bias inside σ.
    const zeroCode = tf.tensor2d([[0, 0]]);
    const [standard] = generator.generate(zeroCode);
    expect(maxAbsDiff(standard!.filter, generator.weight)).toBe(0);
    expect(maxAbsDiff(standard!.bias, generator.bias)).toBe(0);
    tf.dispose([codes, zeroCode, all!.filter, all!.bias, standard!.filter, standard!.bias]);
    expect(tf.memory().numTensors).toBe(before);
    store.dispose();
  });

  it('runs one conv equal to the dense conv with those filters; gradients reach θ*, W1, W2', () => {
    const store = new ParameterStore();
    const generator = new AnchorFunctionGenerator({
      store,
      inChannels: 4,
      outChannels: 3,
      hiddenSize: 16,
      residualInit: (shape) => tf.randomNormal(shape, 0, 0.05, 'float32', 9),
    });
    const feature = tf.randomNormal([2, 5, 6, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const codes = tf.tensor2d(codes3);
    const before = tf.memory().numTensors;
    const out = generator.apply(feature, codes);
    expect(out.shape).toEqual([2, 5, 6, 9]);
    const [filters] = generator.generate(codes);
    const dense = Conv2d.run(feature, filters!.filter, filters!.bias, { padding: 1 });
    expect(maxAbsDiff(out, dense)).toBeLessThan(1e-6);
    tf.dispose([out, dense, filters!.filter, filters!.bias]);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(generator.apply(feature, codes))) as tf.Scalar,
      store.trainableVariables(),
    );
    expect(Object.keys(grads)).toHaveLength(5);
    for (const grad of Object.values(grads)) {
      const values = grad.dataSync();
      expect(values.every(Number.isFinite)).toBe(true);
      expect(values.some((v) => v !== 0)).toBe(true);
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    // No anchors: an empty prediction, not an error.
    const empty = generator.apply(feature, tf.zeros([0, 2]) as tf.Tensor2D);
    expect(empty.shape).toEqual([2, 5, 6, 0]);
    tf.dispose([empty, feature, codes]);
    expect(() => generator.apply(tf.zeros([1, 2, 2, 5]) as tf.Tensor4D, codes)).toThrow(
      /feature must be \[B, H, W, 4\], got \[1, 2, 2, 5\]/,
    );
    store.dispose();
  });

  it('data-dependent variant: per-image filters from GAP(x); W12 = W2 = 0 gives θ* everywhere', () => {
    const store = new ParameterStore();
    const generator = new AnchorFunctionGenerator({
      store,
      inChannels: 4,
      outChannels: 2,
      hiddenSize: 8,
      dataDependent: true,
      residualInit: (shape) => tf.randomNormal(shape, 0, 0.1, 'float32', 2),
    });
    expect(generator.contextWeight!.shape).toEqual([4, 8]);
    const feature = tf.randomNormal([2, 4, 4, 4], 1, 1, 'float32', 4) as tf.Tensor4D;
    const codes = tf.tensor2d(codes3);
    const before = tf.memory().numTensors;
    const out = generator.apply(feature, codes);
    expect(out.shape).toEqual([2, 4, 4, 6]);
    // Image 1's output equals the conv with the filters generated from its own GAP.
    const context = tf.mean(feature, [1, 2]) as tf.Tensor2D;
    const perImage = generator.generate(codes, context);
    expect(perImage).toHaveLength(2);
    expect(maxAbsDiff(perImage[0]!.filter, perImage[1]!.filter)).toBeGreaterThan(1e-4);
    const image1 = tf.slice(feature, [1, 0, 0, 0], [1, 4, 4, 4]) as tf.Tensor4D;
    const expected = Conv2d.run(image1, perImage[1]!.filter, perImage[1]!.bias, { padding: 1 });
    const got = tf.slice(out, [1, 0, 0, 0], [1, 4, 4, 6]);
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-6);
    tf.dispose([
      out,
      context,
      image1,
      expected,
      got,
      ...perImage.flatMap((f) => [f.filter, f.bias]),
    ]);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(generator.apply(feature, codes))) as tf.Scalar,
      store.trainableVariables(),
    );
    expect(Object.keys(grads)).toHaveLength(6);
    for (const grad of Object.values(grads)) {
      const values = grad.dataSync();
      expect(values.every(Number.isFinite)).toBe(true);
      expect(values.some((v) => v !== 0)).toBe(true);
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    generator.residualWeight.assign(tf.zerosLike(generator.residualWeight));
    generator.residualBias.assign(tf.zerosLike(generator.residualBias));
    generator.contextWeight!.assign(tf.zerosLike(generator.contextWeight!));
    const zeroed = generator.apply(feature, codes);
    const theta = tf.tile(generator.weight, [1, 1, 1, 3]) as tf.Tensor4D;
    const reference = Conv2d.run(feature, theta, tf.tile(generator.bias, [3]) as tf.Tensor1D, {
      padding: 1,
    });
    expect(maxAbsDiff(zeroed, reference)).toBeLessThan(1e-6);
    expect(() => generator.generate(codes)).toThrow(/needs r\(x\) as \[B, 4\], got none/);
    tf.dispose([zeroed, theta, reference, feature, codes]);
    store.dispose();
  });
});
