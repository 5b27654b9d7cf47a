import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './init-backend';
import { untaped } from './untaped';

describe('untaped', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('treats what it computes as a constant: d/dv of v·(3v) untaped is 3v, not 6v', () => {
    const v = tf.variable(tf.tensor1d([1, -2]));
    const warmUp = tf.variableGrads(() => tf.sum(tf.mul(v, 3)), [v]);
    tf.dispose([warmUp.value, ...Object.values(warmUp.grads)]);
    const before = tf.memory().numTensors;
    const taped = tf.variableGrads(() => tf.sum(tf.mul(v, tf.mul(v, 3))), [v]);
    const cut = tf.variableGrads(
      () =>
        tf.sum(
          tf.mul(
            v,
            untaped(() => tf.mul(v, 3)),
          ),
        ),
      [v],
    );
    expect(Array.from(taped.grads[v.name]!.dataSync())).toEqual([6, -12]);
    expect(Array.from(cut.grads[v.name]!.dataSync())).toEqual([3, -6]);
    expect(cut.value.dataSync()[0]).toBe(taped.value.dataSync()[0]);
    tf.dispose([
      taped.value,
      cut.value,
      ...Object.values(taped.grads),
      ...Object.values(cut.grads),
    ]);
    expect(tf.memory().numTensors).toBe(before);
    v.dispose();
  });

  it('records nothing: no saved copies for backprop, and the tape is back on after it', async () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const identities = async (cut: boolean) => {
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => {
          const target = () => tf.mul(tf.add(tf.sub(tf.ones([3]), 0.5), 1), 2);
          const constant = cut ? untaped(target) : target();
          return tf.sum(tf.mul(v, constant));
        }, [v]);
        tf.dispose([value, ...Object.values(grads)]);
      });
      return profile.kernels.filter((kernel) => kernel.name === 'Identity').length;
    };
    const recorded = await identities(false);
    const unrecorded = await identities(true);
    // The three target ops save their 6 inputs; the final Mul still saves its 2.
    expect(recorded - unrecorded).toBe(6);
    expect(unrecorded).toBeGreaterThan(0);
    v.dispose();
  });

  it('leaves the tape on when f throws', () => {
    expect(() =>
      untaped(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const v = tf.variable(tf.scalar(2));
    const { grads, value } = tf.variableGrads(() => tf.mul(v, v) as tf.Scalar, [v]);
    expect(grads[v.name]!.dataSync()[0]).toBe(4);
    tf.dispose([value, ...Object.values(grads), v]);
  });
});
