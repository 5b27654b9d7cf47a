// biome-ignore-all assist/source/organizeImports: the import order is what this test is about.
// @det/core before tfjs-core, as a user's file may do.
import { initBackend } from '../index';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';

describe('stock gradient registration', () => {
  it('keeps the shared engine, so gradients that clone (AddN) work whatever the import order', async () => {
    await initBackend({ backend: 'wasm' });
    const a = tf.variable(tf.scalar(2));
    const b = tf.variable(tf.scalar(3));
    const { value, grads } = tf.variableGrads(
      () => tf.addN([tf.mul(a, a), tf.mul(b, tf.scalar(5)), tf.scalar(1)]) as tf.Scalar,
      [a, b],
    );
    expect(value.dataSync()[0]).toBe(20);
    expect(grads[a.name]!.dataSync()[0]).toBe(4);
    expect(grads[b.name]!.dataSync()[0]).toBe(5);
    expect(typeof tf.scalar(1).clone().dataSync).toBe('function');
    tf.dispose([a, b, value, ...Object.values(grads)]);
  });
});
