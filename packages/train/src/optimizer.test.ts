import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import golden from './__fixtures__/train.json';
import { clipGradientNorm } from './clip';
import { createOptimizer, type OptimizerOptions } from './optimizer';

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tolerance = 2e-6) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(
      tolerance * Math.max(1, Math.abs(expected[i]!)),
    );
  }
}

describe('optimizers against torch.optim', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  for (const testCase of golden.optimizers) {
    it(`${testCase.name} matches torch over ${testCase.rates.length} steps at changing rates`, () => {
      const before = tf.memory().numTensors;
      const shapes = testCase.shapes as Record<string, number[]>;
      const initial = testCase.initial as Record<string, number[]>;
      const variables = new Map(
        Object.keys(shapes).map((name) => [
          name,
          tf.tidy(() => tf.variable(tf.tensor(initial[name]!, shapes[name]!))),
        ]),
      );
      const optimizer = createOptimizer(testCase.options as OptimizerOptions);
      testCase.rates.forEach((rate, step) => {
        const stepGradients = testCase.gradients[step] as Record<string, number[]>;
        const gradients = Object.fromEntries(
          Object.keys(shapes).map((name) => [name, tf.tensor(stepGradients[name]!, shapes[name]!)]),
        );
        optimizer.step(variables, gradients, rate);
        tf.dispose(Object.values(gradients));
        const expected = testCase.expected[step] as Record<string, number[]>;
        for (const [name, variable] of variables) expectClose(variable.dataSync(), expected[name]!);
      });
      expect(optimizer.stepCount).toBe(testCase.rates.length);
      const slots = [...optimizer.state().slots.keys()].sort();
      expect(slots).toEqual(
        testCase.name === 'sgd'
          ? ['momentum_buffer.conv.bias', 'momentum_buffer.conv.weight']
          : [
              'exp_avg.conv.bias',
              'exp_avg.conv.weight',
              'exp_avg_sq.conv.bias',
              'exp_avg_sq.conv.weight',
            ],
      );
      optimizer.dispose();
      tf.dispose([...variables.values()]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('a restored state continues exactly where the original would have', () => {
    const testCase = golden.optimizers[1]!;
    const shapes = testCase.shapes as Record<string, number[]>;
    const run = (restartAt: number | undefined) => {
      const variables = new Map(
        Object.keys(shapes).map((name) => [
          name,
          tf.variable(
            tf.tensor((testCase.initial as Record<string, number[]>)[name]!, shapes[name]!),
          ),
        ]),
      );
      let optimizer = createOptimizer(testCase.options as OptimizerOptions);
      testCase.rates.forEach((rate, step) => {
        if (step === restartAt) {
          const restored = createOptimizer(testCase.options as OptimizerOptions);
          restored.loadState(optimizer.state());
          optimizer.dispose();
          optimizer = restored;
        }
        const stepGradients = testCase.gradients[step] as Record<string, number[]>;
        const gradients = Object.fromEntries(
          Object.keys(shapes).map((name) => [name, tf.tensor(stepGradients[name]!, shapes[name]!)]),
        );
        optimizer.step(variables, gradients, rate);
        tf.dispose(Object.values(gradients));
      });
      optimizer.dispose();
      const values = [...variables.values()].map((variable) => Array.from(variable.dataSync()));
      tf.dispose([...variables.values()]);
      return values;
    };
    expect(run(3)).toEqual(run(undefined));
  });

  it('refuses the state of another optimizer kind, naming both', () => {
    const sgd = createOptimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 0 });
    const adamw = createOptimizer({
      kind: 'adamw',
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      weightDecay: 0,
    });
    expect(() => adamw.loadState(sgd.state())).toThrow(
      "optimizer state is for 'sgd', this optimizer is 'adamw'",
    );
  });

  it('an empty gradient record changes nothing', () => {
    const variable = tf.tidy(() => tf.variable(tf.tensor1d([1, 2])));
    const optimizer = createOptimizer({ kind: 'sgd', momentum: 0.9, weightDecay: 0.1 });
    optimizer.step(new Map([['w', variable]]), {}, 0.5);
    expect(Array.from(variable.dataSync())).toEqual([1, 2]);
    expect(optimizer.state().slots.size).toBe(0);
    optimizer.dispose();
    variable.dispose();
  });
});

describe('one update over all parameters', () => {
  const vector = (values: number[]) => tf.tidy(() => tf.variable(tf.tensor1d(values)));

  it('costs the same kernels for 3 parameters as for 30', async () => {
    const launches = async (count: number) => {
      const variables = new Map(
        Array.from({ length: count }, (_, i) => [`p${i}`, vector([i, i + 1])] as const),
      );
      const gradients = Object.fromEntries(
        [...variables.keys()].map((name) => [name, tf.tensor1d([0.5, -0.25])]),
      );
      const optimizer = createOptimizer({
        kind: 'adamw',
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weightDecay: 0.01,
      });
      optimizer.step(variables, gradients, 0.1);
      const profile = await tf.profile(() => optimizer.step(variables, gradients, 0.1));
      optimizer.dispose();
      tf.dispose([...variables.values(), ...Object.values(gradients)]);
      return profile.kernels.length;
    };
    const before = tf.memory().numTensors;
    const few = await launches(3);
    expect(few).toBeLessThan(25);
    expect(await launches(30)).toBe(few);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a parameter without a gradient keeps its value and momentum, as when updated alone', () => {
    const before = tf.memory().numTensors;
    const options = { kind: 'sgd', momentum: 0.9, weightDecay: 0.1 } as const;
    const steps: Array<Record<string, number[]>> = [
      { a: [1, -2], b: [0.5] },
      { a: [0.25, 3] },
      { b: [-1] },
      { a: [2, 2], b: [4] },
    ];
    const together = new Map([
      ['a', vector([1, 2])],
      ['b', vector([3])],
    ]);
    const optimizer = createOptimizer(options);
    const alone = new Map([...together].map(([name, v]) => [name, vector([...v.dataSync()])]));
    const optimizers = new Map([...alone.keys()].map((name) => [name, createOptimizer(options)]));
    for (const [index, step] of steps.entries()) {
      const gradients = Object.fromEntries(
        Object.entries(step).map(([name, values]) => [name, tf.tensor1d(values)]),
      );
      optimizer.step(together, gradients, 0.1 * (index + 1));
      for (const [name, gradient] of Object.entries(gradients))
        optimizers
          .get(name)!
          .step(new Map([[name, alone.get(name)!]]), { [name]: gradient }, 0.1 * (index + 1));
      tf.dispose(Object.values(gradients));
      for (const name of together.keys())
        expect(Array.from(together.get(name)!.dataSync())).toEqual(
          Array.from(alone.get(name)!.dataSync()),
        );
    }
    const state = optimizer.state();
    expect([...state.slots.keys()]).toEqual(['momentum_buffer.a', 'momentum_buffer.b']);
    expect(Array.from(state.slots.get('momentum_buffer.a')!.dataSync())).toEqual(
      Array.from(optimizers.get('a')!.state().slots.get('momentum_buffer.a')!.dataSync()),
    );
    optimizer.dispose();
    for (const o of optimizers.values()) o.dispose();
    tf.dispose([...together.values(), ...alone.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a state loaded in another parameter order continues exactly', () => {
    const options = { kind: 'sgd', momentum: 0.9, weightDecay: 0 } as const;
    const run = (reorder: boolean) => {
      const variables = new Map<string, tf.Variable>([
        ['w', tf.variable(tf.tensor2d([1, 2, 3, 4], [2, 2]))],
        ['b', vector([0.5])],
      ]);
      let optimizer = createOptimizer(options);
      for (let step = 0; step < 4; step++) {
        if (step === 2 && reorder) {
          const saved = optimizer.state();
          const reversed = new Map([...saved.slots].reverse());
          const restored = createOptimizer(options);
          restored.loadState({ ...saved, slots: reversed });
          expect([...restored.state().slots.keys()]).toEqual([...reversed.keys()]);
          optimizer.dispose();
          optimizer = restored;
        }
        const gradients = {
          w: tf.tensor2d([step, -1, 0.5, 2], [2, 2]),
          b: tf.tensor1d([step - 1]),
        };
        optimizer.step(variables, gradients, 0.05);
        tf.dispose(Object.values(gradients));
      }
      optimizer.dispose();
      const values = [...variables.values()].map((v) => Array.from(v.dataSync()));
      tf.dispose([...variables.values()]);
      return values;
    };
    expect(run(true)).toEqual(run(false));
  });
});

describe('clipGradientNorm against torch.nn.utils.clip_grad_norm_', () => {
  for (const testCase of golden.clip) {
    it(`max norm ${testCase.maxNorm}`, () => {
      const before = tf.memory().numTensors;
      const input = testCase.gradients as Record<string, number[]>;
      const gradients = Object.fromEntries(
        Object.entries(input).map(([name, values]) => [name, tf.tensor(values)]),
      );
      const { gradients: clipped, norm } = clipGradientNorm(gradients, testCase.maxNorm);
      expectClose(norm.dataSync(), [testCase.norm]);
      const expected = testCase.clipped as Record<string, number[]>;
      for (const name of Object.keys(input))
        expectClose(clipped[name]!.dataSync(), expected[name]!);
      tf.dispose([...Object.values(gradients), ...Object.values(clipped), norm]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
