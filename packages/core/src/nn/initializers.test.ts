import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { kaimingNormal, normal, withInitializerSeed } from './initializers';
import { Conv2d } from './layers';
import { ParameterStore } from './parameter-store';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Two convs built in one scope: their weights, as plain arrays. */
function buildTwoConvs(): number[][] {
  const store = new ParameterStore();
  new Conv2d(store.scope('a'), { inChannels: 3, outChannels: 4, kernelSize: 3 });
  new Conv2d(store.scope('b'), { inChannels: 3, outChannels: 4, kernelSize: 3 });
  const weights = store.entries().map((entry) => Array.from(entry.variable.dataSync()));
  store.dispose();
  return weights;
}

describe('withInitializerSeed', () => {
  it('gives the same weights for the same seed and different weights for another', () => {
    const before = tf.memory().numTensors;
    const first = withInitializerSeed(7, buildTwoConvs);
    const again = withInitializerSeed(7, buildTwoConvs);
    const other = withInitializerSeed(8, buildTwoConvs);
    expect(again).toEqual(first);
    expect(other[0]).not.toEqual(first[0]);
    // Each layer draws its own seed: same-shaped layers do not start equal.
    expect(first[0]).not.toEqual(first[2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves an explicit seed alone, restores the unseeded state, and nests', () => {
    const explicit = () => normal({ std: 1, seed: 3 })([5]);
    const a = withInitializerSeed(1, explicit);
    const b = withInitializerSeed(2, explicit);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const inner = withInitializerSeed(1, () => {
      withInitializerSeed(99, () => kaimingNormal()([4, 4]).dispose());
      return kaimingNormal()([4, 4]);
    });
    const direct = withInitializerSeed(1, () => {
      kaimingNormal()([4, 4]).dispose();
      return kaimingNormal()([4, 4]);
    });
    // The nested scope did not consume the outer stream: only the second draw differs.
    expect(Array.from(inner.dataSync())).not.toEqual(Array.from(direct.dataSync()));
    const outer = withInitializerSeed(1, () => kaimingNormal()([4, 4]));
    expect(Array.from(inner.dataSync())).toEqual(Array.from(outer.dataSync()));
    expect(() =>
      withInitializerSeed(5, () => {
        throw new Error('build failed');
      }),
    ).toThrow('build failed');
    // Unseeded again: two draws differ.
    const u1 = normal({ std: 1 })([8]);
    const u2 = normal({ std: 1 })([8]);
    expect(Array.from(u1.dataSync())).not.toEqual(Array.from(u2.dataSync()));
    tf.dispose([a, b, inner, direct, outer, u1, u2]);
  });
});
