import { initBackend, ParameterStore } from '@det/core';
import { expectClose } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import golden from './__fixtures__/feature-adaption.json';
import { FeatureAdaption } from './feature-adaption';
import { LocationBranch, ShapeBranch } from './guided-anchor-branches';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('LocationBranch / ShapeBranch', () => {
  it('start at the prior probability and zero shape deltas', () => {
    const store = new ParameterStore();
    const location = new LocationBranch(store.scope('conv_loc'), { inChannels: 8 });
    const shape = new ShapeBranch(store.scope('conv_shape'), { inChannels: 8 });
    const x = tf.zeros([2, 3, 4, 8]) as tf.Tensor4D;
    const p = tf.sigmoid(location.apply(x));
    const s = shape.apply(x);
    expect(p.shape).toEqual([2, 3, 4, 1]);
    expect(s.shape).toEqual([2, 3, 4, 2]);
    expect(p.dataSync()[0]).toBeCloseTo(0.01, 6);
    expect(Array.from(s.dataSync()).every((v) => v === 0)).toBe(true);
    expect(store.entries().map((e) => e.name)).toEqual([
      'conv_loc.weight',
      'conv_loc.bias',
      'conv_shape.weight',
      'conv_shape.bias',
    ]);
    tf.dispose([x, p, s, ...store.entries().map((e) => e.variable)]);
  });
});

describe('FeatureAdaption', () => {
  const [B, H, W, C, O, G, K] = golden.shape as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];

  it('equals torchvision deform_conv2d driven by a 1×1 offset conv (golden)', () => {
    const store = new ParameterStore();
    const adaption = new FeatureAdaption(store, {
      inChannels: C,
      outChannels: O,
      deformGroups: G,
      kernelSize: K,
    });
    adaption.offsetWeight.assign(tf.tensor4d(golden.offsetWeight, [1, 1, 2, 2 * G * K * K]));
    adaption.adaptionWeight.assign(tf.tensor4d(golden.adaptionWeight, [K, K, C, O]));
    const feature = tf.tensor4d(golden.feature, [B, H, W, C]);
    const shapePred = tf.tensor4d(golden.shapePred, [B, H, W, 2]);
    const before = tf.memory().numTensors;
    const out = adaption.apply(feature, shapePred);
    expect(out.shape).toEqual([B, H, W, O]);
    // float32 bilinear sampling and K²·C-term sums in another order than torch's float32: the
    // worst measured error is 1.0e-5 · (1e-3 + |expected|) over 240 values up to 2.2.
    expectClose(
      out,
      { shape: [B, H, W, O], data: golden.output },
      {
        atol: 1e-5,
        rtol: 1e-5,
        label: 'FeatureAdaption output',
      },
    );
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);

    // The shape prediction is detached: the tape has no path to it; the features get a gradient.
    expect(() =>
      tf.grads((s: tf.Tensor) => tf.sum(adaption.apply(feature, s as tf.Tensor4D)))([shapePred]),
    ).toThrow(/Cannot compute gradient/);
    const [gFeature] = tf.grads((f: tf.Tensor) =>
      tf.sum(adaption.apply(f as tf.Tensor4D, shapePred)),
    )([feature]);
    expect(Array.from(gFeature?.dataSync() ?? []).some((v) => v !== 0)).toBe(true);
    const { grads } = tf.variableGrads(() => tf.sum(adaption.apply(feature, shapePred)));
    expect(Object.keys(grads).length).toBe(2);
    tf.dispose(
      [feature, shapePred, gFeature, ...Object.values(grads)].filter(Boolean) as tf.Tensor[],
    );
    tf.dispose(store.entries().map((e) => e.variable));
  });

  it('rejects deformGroups that do not divide the channels', () => {
    expect(
      () => new FeatureAdaption(new ParameterStore(), { inChannels: 6, outChannels: 4 }),
    ).toThrow(/deformGroups \(4\)/);
  });
});
