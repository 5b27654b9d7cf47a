import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { locationMask } from './guided-anchors';

describe('locationMask (εL)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('keeps locations with sigmoid(logit) ≥ εL, every location at εL = 0, and rejects εL outside [0, 1)', () => {
    // sigmoid(−5) ≈ 0.0067, sigmoid(−4) ≈ 0.018, sigmoid(0) = 0.5.
    const logits = tf.tensor4d([-5, -4, 0, -1e4], [1, 2, 2, 1]);
    const before = tf.memory().numTensors;
    const at001 = locationMask(logits, 0.01);
    const at05 = locationMask(logits, 0.5);
    const all = locationMask(logits, 0);
    expect(Array.from(at001.dataSync())).toEqual([0, 1, 1, 0]);
    expect(Array.from(at05.dataSync())).toEqual([0, 0, 1, 0]);
    expect(Array.from(all.dataSync())).toEqual([1, 1, 1, 1]);
    expect(all.shape).toEqual([1, 2, 2]);
    tf.dispose([at001, at05, all]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => locationMask(logits, 1)).toThrow(
      'locationMask: threshold must be in [0, 1), got 1',
    );
    expect(() => locationMask(logits, -0.1)).toThrow('got -0.1');
    logits.dispose();
  });
});
