import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam } from './adam';

const options = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 };

function quadraticGradients(variables: Map<string, tf.Variable>): Record<string, tf.Tensor> {
  // d/dw of sum((w − 3)²) and of sum(w⁴)/4.
  return tf.tidy(() => ({
    a: tf.mul(tf.sub(variables.get('a')!, 3), 2),
    b: tf.pow(variables.get('b')!, 3),
  }));
}

describe('Adam', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('takes the same steps as tfjs’ own Adam (bias-corrected), and leaks nothing', () => {
    const ours = new Map<string, tf.Variable>([
      ['a', tf.variable(tf.tensor1d([0, 1, -2]))],
      ['b', tf.variable(tf.tensor2d([[0.5, -1.5]]))],
    ]);
    const reference = [
      tf.variable(tf.tensor1d([0, 1, -2])),
      tf.variable(tf.tensor2d([[0.5, -1.5]])),
    ];
    const adam = new Adam(options);
    const tfAdam = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 7; step++) {
      const gradients = quadraticGradients(ours);
      adam.step(ours, gradients, 0.05);
      tf.dispose(Object.values(gradients));
    }
    // Adam keeps m and v per variable plus the step count.
    expect(tf.memory().numTensors).toBe(before + 5);
    for (let step = 0; step < 7; step++) {
      tfAdam.minimize(
        () =>
          tf.add(
            tf.sum(tf.square(tf.sub(reference[0]!, 3))),
            tf.div(tf.sum(tf.pow(reference[1]!, 4)), 4),
          ) as tf.Scalar,
        false,
        reference,
      );
    }
    for (const [i, name] of ['a', 'b'].entries()) {
      const got = Array.from(ours.get(name)!.dataSync());
      const want = Array.from(reference[i]!.dataSync());
      for (const [j, value] of got.entries()) expect(value).toBeCloseTo(want[j]!, 5);
    }
    tfAdam.dispose();
    adam.dispose();
    tf.dispose([...ours.values(), ...reference]);
  });

  it('resumes from its state exactly (moments and step count)', () => {
    const make = () =>
      new Map<string, tf.Variable>([
        ['a', tf.variable(tf.tensor1d([0, 1, -2]))],
        ['b', tf.variable(tf.tensor2d([[0.5, -1.5]]))],
      ]);
    const straight = make();
    const resumed = make();
    const first = new Adam(options);
    for (let step = 0; step < 6; step++) {
      const g = quadraticGradients(straight);
      first.step(straight, g, 0.05);
      tf.dispose(Object.values(g));
    }
    const second = new Adam(options);
    for (let step = 0; step < 3; step++) {
      const g = quadraticGradients(resumed);
      second.step(resumed, g, 0.05);
      tf.dispose(Object.values(g));
    }
    const third = new Adam(options);
    third.loadState(second.state());
    second.dispose();
    for (let step = 0; step < 3; step++) {
      const g = quadraticGradients(resumed);
      third.step(resumed, g, 0.05);
      tf.dispose(Object.values(g));
    }
    expect(Array.from(resumed.get('a')!.dataSync())).toEqual(
      Array.from(straight.get('a')!.dataSync()),
    );
    expect(Array.from(resumed.get('b')!.dataSync())).toEqual(
      Array.from(straight.get('b')!.dataSync()),
    );
    first.dispose();
    third.dispose();
    tf.dispose([...straight.values(), ...resumed.values()]);
  });

  it('applies decoupled weight decay (AdamW)', () => {
    const variables = new Map<string, tf.Variable>([['a', tf.variable(tf.tensor1d([2]))]]);
    const adam = new Adam({ ...options, weightDecay: 0.5 });
    const zero = { a: tf.zeros([1]) };
    adam.step(variables, zero, 0.1);
    // Zero gradient: only the decay acts, w ← w·(1 − lr·λ).
    expect(variables.get('a')!.dataSync()[0]).toBeCloseTo(2 * (1 - 0.1 * 0.5), 6);
    adam.dispose();
    tf.dispose([...variables.values(), zero.a]);
  });
});
