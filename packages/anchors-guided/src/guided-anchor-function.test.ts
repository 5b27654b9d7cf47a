import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import type { AnchorLevelOutput } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GuidedAnchorFunction, type GuidedAnchorFunctionOptions } from './guided-anchor-function';
import { guidedAnchors } from './guided-anchors';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const strides = [8, 16];
const channels = 8;

function build(options: Partial<GuidedAnchorFunctionOptions> = {}) {
  const store = new ParameterStore();
  const fn = withInitializerSeed(
    7,
    () =>
      new GuidedAnchorFunction(
        {
          store,
          inChannels: channels,
          numClasses: 3,
          clsName: 'retina_cls',
          regName: 'retina_reg',
          strides,
          sharedTower: false,
          kernelSize: 3,
          priorProbability: 0.01,
          seed: 0,
        },
        { squareScale: 4, ...options },
      ),
  );
  return { store, fn };
}

function copyParameters(from: ParameterStore, to: ParameterStore): void {
  for (const { name, variable } of from.entries()) to.get(name).assign(variable);
}

const disposeOutput = (o: AnchorLevelOutput) =>
  tf.dispose([
    o.clsScores,
    o.boxDeltas,
    o.priors,
    ...(o.evaluated ? [o.evaluated] : []),
    ...Object.values(o.extras ?? {}),
  ]);

describe('guidedAnchors', () => {
  it('centres on the squares with w = σ·s·e^(std·dw)', () => {
    const shapePred = tf.tensor4d([0, 0, Math.log(2), -Math.log(2)], [1, 1, 2, 2]);
    const anchors = guidedAnchors(shapePred, 8, { squareScale: 4 });
    // Square centres at (0, 0) and (8, 0) (mmdetection centre offset 0); 32 = 4·8.
    expect(Array.from(anchors.dataSync())).toEqual([-16, -16, 16, 16, 8 - 32, -8, 8 + 32, 8]);
    tf.dispose([shapePred, anchors]);
  });
});

describe('GuidedAnchorFunction', () => {
  it.each([1, 4])(
    'masked inference equals dense inference at kept positions (batch %i)',
    (batch) => {
      const sparse = build();
      const dense = build({ sparseInference: false });
      copyParameters(sparse.store, dense.store);
      // Put roughly half of the locations above εL.
      sparse.fn.location.conv.bias?.assign(tf.tensor1d([Math.log(0.01 / 0.99)]));
      dense.fn.location.conv.bias?.assign(tf.tensor1d([Math.log(0.01 / 0.99)]));
      for (const [level, stride] of strides.entries()) {
        const size = 64 / stride;
        const feature = tf.randomNormal(
          [batch, size, size, channels],
          0,
          1,
          'float32',
          3 + level,
        ) as tf.Tensor4D;
        const before = tf.memory().numTensors;
        const input = {
          level,
          clsFeature: feature,
          regFeature: feature,
          training: false,
          plan: undefined,
        };
        const a = sparse.fn.apply(input);
        const b = dense.fn.apply(input);
        const kept = a.evaluated?.dataSync() as Uint8Array;
        const numKept = kept.reduce((n, v) => n + v, 0);
        expect(numKept).toBeGreaterThan(0);
        expect(numKept).toBeLessThan(kept.length);
        for (const key of ['clsScores', 'boxDeltas'] as const) {
          const sa = a[key].dataSync();
          const sb = b[key].dataSync();
          const width = a[key].shape[2];
          for (let row = 0; row < kept.length; row++) {
            for (let k = 0; k < width; k++) {
              const i = row * width + k;
              if (kept[row]) expect(sa[i]).toBeCloseTo(sb[i] as number, 4);
              else expect(Math.abs(sa[i] as number)).toBe(0);
            }
          }
        }
        expect(Array.from(a.priors.dataSync())).toEqual(Array.from(b.priors.dataSync()));
        disposeOutput(a);
        disposeOutput(b);
        expect(tf.memory().numTensors).toBe(before);
        feature.dispose();
      }
    },
  );

  it('skips a level where nothing passes εL', () => {
    const { fn } = build();
    fn.location.conv.bias?.assign(tf.tensor1d([-50]));
    const feature = tf.randomNormal([2, 4, 4, channels], 0, 1, 'float32', 9) as tf.Tensor4D;
    const out = fn.apply({
      level: 1,
      clsFeature: feature,
      regFeature: feature,
      training: false,
      plan: undefined,
    });
    expect(out.clsScores.shape).toEqual([2, 16, 3]);
    expect(Array.from(out.clsScores.dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from(out.evaluated?.dataSync() ?? [1]).every((v) => v === 0)).toBe(true);
    disposeOutput(out);
    feature.dispose();
  });

  it('trains: finite loc/shape losses with and without boxes, gradients reach their branches only', () => {
    const { store, fn } = build({ shapeTargets: {} });
    const features = strides.map(
      (s, level) =>
        tf.randomNormal([2, 64 / s, 64 / s, channels], 0, 1, 'float32', level + 1) as tf.Tensor4D,
    );
    const gtBoxes = [
      tf.tensor2d([
        [4, 6, 30, 40],
        [20, 20, 60, 52],
      ]),
      tf.zeros([0, 4]) as tf.Tensor2D,
    ];
    const gtLabels = [tf.tensor1d([0, 2], 'int32'), tf.zeros([0], 'int32') as tf.Tensor1D];
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => {
      const outputs = features.map((f, level) =>
        fn.apply({ level, clsFeature: f, regFeature: f, training: true, plan: undefined }),
      );
      const losses = fn.auxiliaryLosses(outputs, {
        targets: { gtBoxes, gtLabels },
        imageShapes: [
          [64, 64],
          [64, 64],
        ],
      });
      expect(Object.keys(losses)).toEqual(['loss_loc', 'loss_shape']);
      for (const l of Object.values(losses)) expect(Number.isFinite(l.dataSync()[0])).toBe(true);
      expect(losses.loss_shape?.dataSync()[0]).toBeGreaterThan(0);
      return tf.add(losses.loss_loc as tf.Scalar, losses.loss_shape as tf.Scalar) as tf.Scalar;
    }, store.trainableVariables());
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    const named = new Map(store.entries().map((e) => [e.variable.id, e.name]));
    const withGrad = Object.entries(grads)
      .filter(([, g]) => Array.from(g.dataSync()).some((v) => v !== 0))
      .map(([id]) =>
        named.get(Number(store.entries().find((e) => e.variable.name === id)?.variable.id)),
      );
    expect(withGrad.sort()).toEqual([
      'conv_loc.bias',
      'conv_loc.weight',
      'conv_shape.bias',
      'conv_shape.weight',
    ]);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...features, ...gtBoxes, ...gtLabels]);
  });
});

describe('GuidedAnchorFunction.setLocationThreshold', () => {
  it('keeps exactly the locations with p ≥ εL, as εL moves, without touching the weights', () => {
    const { fn } = build({ locationThreshold: 0.01 });
    const feature = tf.randomNormal([1, 8, 8, channels], 0, 1, 'float32', 11) as tf.Tensor4D;
    const input = {
      level: 0,
      clsFeature: feature,
      regFeature: feature,
      training: false,
      plan: undefined,
    };
    const probabilities = tf.tidy(() => tf.sigmoid(fn.location.apply(feature)).dataSync());
    const sorted = Array.from(probabilities).sort((a, b) => a - b);
    const counts: number[] = [];
    const between = (i: number) => (sorted[i - 1]! + sorted[i]!) / 2;
    for (const threshold of [0, between(16), between(48), (1 + sorted[63]!) / 2]) {
      fn.setLocationThreshold(threshold);
      expect(fn.options.locationThreshold).toBe(threshold);
      const before = tf.memory().numTensors;
      const output = fn.apply(input);
      counts.push((output.evaluated!.dataSync() as Uint8Array).reduce((n, v) => n + v, 0));
      disposeOutput(output);
      expect(tf.memory().numTensors).toBe(before);
    }
    // 64 locations: εL between the 16th and 17th smallest p keeps 48, then 16, then none.
    expect(new Set(sorted).size).toBe(64);
    expect(counts).toEqual([64, 48, 16, 0]);
    expect(() => fn.setLocationThreshold(1)).toThrow(/εL must be in \[0, 1\), got 1/);
    expect(() => fn.setLocationThreshold(Number.NaN)).toThrow(/got NaN/);
    feature.dispose();
  });
});
