import { readFileSync } from 'node:fs';
import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import { expectClose, type GoldenTensor } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnchorFunctionGenerator } from './anchor-function-generator';

/**
 * Golden from scripts/fixtures/anchors-meta-generator.py: MetaAnchor eq. 4–6 transcribed
 * into PyTorch one anchor at a time (each θ_b materialised, float64), against det's
 * low-rank generator (one convolution for all anchors).
 */
interface GeneratorCase {
  name: string;
  dataDependent: boolean;
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  hiddenSize: number;
  input: GoldenTensor;
  codes: GoldenTensor;
  weights: Record<string, GoldenTensor>;
  upstream: GoldenTensor;
  output: GoldenTensor;
  gradients: Record<string, GoldenTensor>;
}

const fixture = JSON.parse(
  readFileSync(new URL('./__fixtures__/anchor-function-generator.json', import.meta.url), 'utf8'),
) as { cases: GeneratorCase[] };

/** float32 on wasm against float64: outputs and gradients of order 1–10. */
const tolerance = { atol: 1e-5, rtol: 1e-4 };

const tensorOf = (golden: GoldenTensor) => tf.tensor(Array.from(golden.data), golden.shape);

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('AnchorFunctionGenerator equals a PyTorch transcription of MetaAnchor eq. 4–6', () => {
  for (const testCase of fixture.cases) {
    it(`${testCase.name}: output and gradients of input, θ*, W1, W2 (W12); no leak`, () => {
      const store = new ParameterStore();
      const generator = withInitializerSeed(
        1,
        () =>
          new AnchorFunctionGenerator({
            store,
            inChannels: testCase.inChannels,
            outChannels: testCase.outChannels,
            kernelSize: testCase.kernelSize,
            hiddenSize: testCase.hiddenSize,
            dataDependent: testCase.dataDependent,
          }),
      );
      const names = store.entries().map((entry) => entry.name);
      expect(names.sort()).toEqual(Object.keys(testCase.weights).sort());
      for (const entry of store.entries()) {
        const golden = testCase.weights[entry.name]!;
        tf.tidy(() => entry.variable.assign(tf.reshape(tensorOf(golden), entry.variable.shape)));
      }
      const input = tensorOf(testCase.input) as tf.Tensor4D;
      const codes = tensorOf(testCase.codes) as tf.Tensor2D;
      const upstream = tensorOf(testCase.upstream);
      const before = tf.memory().numTensors;
      const output = generator.apply(input, codes);
      expectClose(output, testCase.output, { ...tolerance, label: 'output' });
      const objective = (x: tf.Tensor) =>
        tf.sum(tf.mul(generator.apply(x as tf.Tensor4D, codes), upstream)) as tf.Scalar;
      const gradInput = tf.grad(objective)(input);
      expectClose(gradInput, testCase.gradients.input!, { ...tolerance, label: 'd/d input' });
      const variables = store.entries().map((entry) => entry.variable);
      const { value, grads } = tf.variableGrads(() => objective(input), variables);
      for (const entry of store.entries()) {
        const gradient = grads[entry.variable.name];
        expect(gradient, entry.name).toBeDefined();
        expectClose(gradient!.dataSync(), testCase.gradients[entry.name]!.data, {
          ...tolerance,
          label: `d/d ${entry.name}`,
        });
      }
      tf.dispose([output, gradInput, value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([input, codes, upstream]);
      store.dispose();
    });
  }
});
