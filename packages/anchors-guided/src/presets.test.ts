import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GuidedAnchorFunction } from './guided-anchor-function';
import { gaRetinaNetAnchorOptions, gaRpnAnchorOptions } from './presets';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** The context an RPN-style (shared tower, 1×1, zero bias) or RetinaNet-style head hands over. */
function headContext(store: ParameterStore, prefix: 'rpn' | 'retina', numClasses: number) {
  const rpn = prefix === 'rpn';
  return {
    store,
    inChannels: 8,
    numClasses,
    clsName: `${prefix}_cls`,
    regName: `${prefix}_reg`,
    strides: rpn ? [4, 8, 16, 32, 64] : [8, 16, 32, 64, 128],
    sharedTower: rpn,
    kernelSize: rpn ? 1 : 3,
    priorProbability: rpn ? null : 0.01,
    seed: 0,
  };
}

describe('presets', () => {
  it.each([
    [
      'GA-RPN',
      gaRpnAnchorOptions,
      'rpn',
      ['conv_loc', 'conv_shape', 'feature_adaption', 'rpn_cls', 'rpn_reg'],
    ],
    [
      'GA-RetinaNet',
      gaRetinaNetAnchorOptions,
      'retina',
      [
        'conv_loc',
        'conv_shape',
        'feature_adaption_cls',
        'feature_adaption_reg',
        'retina_cls',
        'retina_reg',
      ],
    ],
  ] as const)('%s builds with mmdetection parameter names', (_name, preset, prefix, scopes) => {
    const store = new ParameterStore();
    const fn = withInitializerSeed(
      7,
      () => new GuidedAnchorFunction(headContext(store, prefix, 2), preset()),
    );
    expect(fn.numLevels).toBe(5);
    expect([...new Set(store.entries().map((e) => e.name.split('.')[0]))]).toEqual([...scopes]);
    const feature = tf.randomNormal([1, 4, 4, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
    const out = fn.apply({
      level: 0,
      clsFeature: feature,
      regFeature: feature,
      training: false,
      plan: undefined,
    });
    expect(out.priors.shape).toEqual([1, 16, 4]);
    tf.dispose([
      feature,
      out.clsScores,
      out.boxDeltas,
      out.priors,
      ...(out.evaluated ? [out.evaluated] : []),
      ...Object.values(out.extras ?? {}),
    ]);
    tf.dispose(store.entries().map((e) => e.variable));
  });

  it.each([
    // mmdetection GARPNHead: conv_cls std 0.01, bias 0 (sampled sigmoid BCE).
    ['GA-RPN', gaRpnAnchorOptions, 'rpn', 0],
    // mmdetection GARetinaHead: retina_cls bias_init_with_prob(0.01) (focal loss).
    ['GA-RetinaNet', gaRetinaNetAnchorOptions, 'retina', Math.log(0.01 / 0.99)],
  ] as const)(
    '%s initialises the cls / reg biases as mmdetection',
    (_name, preset, prefix, bias) => {
      const store = new ParameterStore();
      new GuidedAnchorFunction(headContext(store, prefix, 1), preset());
      expect(store.get(`${prefix}_cls.bias`).dataSync()[0]).toBeCloseTo(bias, 5);
      // conv_reg: normal_init(std=0.01), bias 0.
      expect(Array.from(store.get(`${prefix}_reg.bias`).dataSync())).toEqual([0, 0, 0, 0]);
      tf.dispose(store.entries().map((e) => e.variable));
    },
  );
});
