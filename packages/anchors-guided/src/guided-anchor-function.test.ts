import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import { expectClose } from '@det/core/testing';
import { type AnchorLevelOutput, disposeLevelOutputs } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GuidedAnchorFunction,
  type GuidedAnchorFunctionOptions,
  sparseGeometry,
} from './guided-anchor-function';
import { guidedAnchors } from './guided-anchors';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const strides = [8, 16];
const channels = 8;

function build(
  options: Partial<GuidedAnchorFunctionOptions> = {},
  head: { kernelSize?: number; sharedTower?: boolean } = {},
) {
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
          sharedTower: head.sharedTower ?? false,
          kernelSize: head.kernelSize ?? 3,
          priorProbability: 0.01,
          seed: 0,
        },
        { squareScale: 4, ...options },
      ),
  );
  return { store, fn };
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
  /** `apply`'s rows at the evaluated locations, per image, as host arrays. */
  function keptRows(out: AnchorLevelOutput) {
    const kept = out.evaluated!.dataSync() as Uint8Array;
    const pick = (t: tf.Tensor) => {
      const values = t.dataSync();
      const width = t.shape[t.rank - 1] as number;
      const rows: number[] = [];
      for (let row = 0; row < kept.length; row++) {
        if (kept[row]) rows.push(...values.subarray(row * width, (row + 1) * width));
      }
      return rows;
    };
    return {
      kept,
      cls: pick(out.clsScores),
      deltas: pick(out.boxDeltas),
      priors: pick(out.priors),
    };
  }

  for (const [kernelSize, sharedTower] of [
    [3, false],
    [1, true],
  ] as const) {
    it.each([1, 4])(
      `sparse inference equals dense inference at the kept locations (batch %i, ${kernelSize}×${kernelSize} final conv${sharedTower ? ', shared adaption' : ''})`,
      (batch) => {
        const { store, fn } = build({ sparseInference: 'always' }, { kernelSize, sharedTower });
        // Put roughly half of the locations above εL.
        fn.location!.conv.bias?.assign(tf.tensor1d([Math.log(0.01 / 0.99)]));
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
          const compact = fn.applyCompact(input)!;
          const dense = fn.apply(input);
          const reference = keptRows(dense);
          const numKept = reference.kept.reduce((n, v) => n + v, 0);
          expect(numKept).toBeGreaterThan(0);
          expect(numKept).toBeLessThan(reference.kept.length);
          expect(compact.clsScores.shape).toEqual([numKept, 3]);
          expect(compact.rowsPerImage.reduce((a, b) => a + b, 0)).toBe(numKept);
          expect(compact.rowsPerImage).toHaveLength(batch);
          expectClose(compact.clsScores.dataSync(), reference.cls, { atol: 1e-5, rtol: 1e-5 });
          expectClose(compact.boxDeltas.dataSync(), reference.deltas, { atol: 1e-5, rtol: 1e-5 });
          expect(Array.from(compact.priors.dataSync())).toEqual(reference.priors);
          disposeOutput(dense);
          disposeLevelOutputs([compact]);
          expect(tf.memory().numTensors).toBe(before);
          feature.dispose();
        }
        store.dispose();
      },
    );
  }

  it('computes nothing on a level where nothing passes εL, and keeps everything at εL = 0', () => {
    const none = build({ sparseInference: 'always' });
    none.fn.location!.conv.bias?.assign(tf.tensor1d([-50]));
    const all = build({ sparseInference: 'always', locationThreshold: 0 });
    const feature = tf.randomNormal([2, 4, 4, channels], 0, 1, 'float32', 9) as tf.Tensor4D;
    const input = {
      level: 1,
      clsFeature: feature,
      regFeature: feature,
      training: false,
      plan: undefined,
    };
    const before = tf.memory().numTensors;
    const empty = none.fn.applyCompact(input)!;
    expect(empty.clsScores.shape).toEqual([0, 3]);
    expect(empty.priors.shape).toEqual([0, 4]);
    expect(empty.rowsPerImage).toEqual([0, 0]);
    const dense = none.fn.apply(input);
    expect(Array.from(dense.evaluated!.dataSync()).every((v) => v === 0)).toBe(true);
    const full = all.fn.applyCompact(input)!;
    const denseAll = all.fn.apply(input);
    expect(full.rowsPerImage).toEqual([16, 16]);
    expectClose(full.clsScores.dataSync(), denseAll.clsScores.dataSync(), {
      atol: 1e-5,
      rtol: 1e-5,
    });
    expectClose(full.boxDeltas.dataSync(), denseAll.boxDeltas.dataSync(), {
      atol: 1e-5,
      rtol: 1e-5,
    });
    disposeLevelOutputs([empty, full]);
    disposeOutput(dense);
    disposeOutput(denseAll);
    expect(tf.memory().numTensors).toBe(before);
    feature.dispose();
    none.store.dispose();
    all.store.dispose();
  });

  it("chooses the path by the kept fraction in 'auto' mode, never sparse in training or 'never'", () => {
    const feature = tf.randomNormal([2, 4, 4, channels], 0, 1, 'float32', 9) as tf.Tensor4D;
    const input = {
      level: 1,
      clsFeature: feature,
      regFeature: feature,
      training: false,
      plan: undefined,
    };
    const half = Math.log(0.01 / 0.99);
    const fraction = (() => {
      const { store, fn } = build();
      fn.location!.conv.bias?.assign(tf.tensor1d([half]));
      const out = fn.apply(input);
      const kept = Array.from(out.evaluated!.dataSync());
      const value = kept.reduce((n, v) => n + Number(v), 0) / kept.length;
      disposeOutput(out);
      store.dispose();
      return value;
    })();
    expect(fraction).toBeGreaterThan(0.1);
    expect(fraction).toBeLessThan(0.9);
    const cases = [
      [{ sparseInference: 'auto', sparseMaxKept: fraction }, false, true],
      [{ sparseInference: 'auto', sparseMaxKept: fraction - 0.01 }, false, false],
      [{ sparseInference: 'never' }, false, false],
      [{ sparseInference: 'always' }, true, false],
    ] as const;
    for (const [options, training, sparse] of cases) {
      const { store, fn } = build(options);
      fn.location!.conv.bias?.assign(tf.tensor1d([half]));
      const out = fn.applyCompact({ ...input, training });
      expect(out !== null, JSON.stringify({ options, training })).toBe(sparse);
      if (out) disposeLevelOutputs([out]);
      store.dispose();
    }
    feature.dispose();
  });

  it('sparseGeometry: kept positions, their 3×3 support and im2col rows (zero row in the padding)', () => {
    // Batch 2 of 3×3 maps: image 0 keeps its corner (0, 0), image 1 its centre.
    const mask = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    const g = sparseGeometry(mask, 2, 3, 3, 3);
    expect(Array.from(g.positions)).toEqual([0, 13]);
    expect(g.rowsPerImage).toEqual([1, 1]);
    // Support: image 0's (0..1, 0..1) = 0, 1, 3, 4; all of image 1 = 9..17.
    expect(Array.from(g.support)).toEqual([0, 1, 3, 4, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect(Array.from(g.keptInSupport!)).toEqual([0, 8]);
    const zero = 13;
    expect(Array.from(g.columnIndices!)).toEqual([
      ...[zero, zero, zero, zero, 0, 1, zero, 2, 3],
      ...[4, 5, 6, 7, 8, 9, 10, 11, 12],
    ]);
    const pointwise = sparseGeometry(mask, 2, 3, 3, 1);
    expect(Array.from(pointwise.support)).toEqual([0, 13]);
    expect(pointwise.columnIndices).toBeNull();
    expect(() => sparseGeometry(mask, 1, 3, 3, 3)).toThrow(/18 values, expected B·H·W = 9/);
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
    const probabilities = tf.tidy(() => tf.sigmoid(fn.location!.apply(feature)).dataSync());
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
