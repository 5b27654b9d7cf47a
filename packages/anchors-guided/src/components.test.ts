import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import { expectClose } from '@det/core/testing';
import { type AnchorLevelOutput, disposeLevelOutputs } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type GuidedAnchorComponents,
  GuidedAnchorFunction,
  type GuidedAnchorFunctionOptions,
  resolveComponents,
} from './guided-anchor-function';
import { guidedAnchors } from './guided-anchors';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

// GA Table 4's ablation: the location branch, the shape branch and the feature adaption on / off.

const strides = [8, 16];
const channels = 8;

function build(components: GuidedAnchorComponents, options: GuidedAnchorFunctionOptions = {}) {
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
        { squareScale: 4, components, ...options },
      ),
  );
  return { store, fn };
}

const names = (store: ParameterStore) =>
  store
    .entries()
    .map((e) => e.name.split('.')[0])
    .filter((name, index, all) => all.indexOf(name) === index)
    .sort();

const disposeOutput = (o: AnchorLevelOutput) =>
  tf.dispose([
    o.clsScores,
    o.boxDeltas,
    o.priors,
    ...(o.evaluated ? [o.evaluated] : []),
    ...Object.values(o.extras ?? {}),
  ]);

const featureOf = (batch: number, size: number, seed: number) =>
  tf.randomNormal([batch, size, size, channels], 0, 1, 'float32', seed) as tf.Tensor4D;

const inference = (feature: tf.Tensor4D, level = 0) => ({
  level,
  clsFeature: feature,
  regFeature: feature,
  training: false,
  plan: undefined,
});

describe('GuidedAnchorFunction components (GA Table 4: L. / S. / F.A.)', () => {
  it('builds only the modules that are on', () => {
    const cases: [GuidedAnchorComponents, string[]][] = [
      [
        {},
        [
          'conv_loc',
          'conv_shape',
          'feature_adaption_cls',
          'feature_adaption_reg',
          'retina_cls',
          'retina_reg',
        ],
      ],
      [{ location: false }, ['conv_shape', 'feature_adaption_cls', 'feature_adaption_reg']],
      [{ featureAdaption: false }, ['conv_loc', 'conv_shape']],
      [{ shape: false, featureAdaption: false }, ['conv_loc']],
      [{ location: false, shape: false, featureAdaption: false }, []],
    ];
    for (const [components, modules] of cases) {
      const { store, fn } = build(components);
      expect(names(store), JSON.stringify(components)).toEqual(
        [...modules, 'retina_cls', 'retina_reg'].filter((n, i, all) => all.indexOf(n) === i).sort(),
      );
      expect(fn.location === null).toBe(components.location === false);
      expect(fn.shape === null).toBe(components.shape === false);
      store.dispose();
    }
  });

  it('rejects feature adaption without the shape branch, non-booleans and unknown modules', () => {
    expect(() => build({ shape: false })).toThrow(
      /components\.featureAdaption needs components\.shape .*set featureAdaption: false too/,
    );
    expect(() => resolveComponents({ location: 'no' as unknown as boolean })).toThrow(
      /components\.location must be a boolean, got "no"/,
    );
    expect(() => resolveComponents({ scale: false } as GuidedAnchorComponents)).toThrow(
      /components\.scale is not a module \(location, shape, featureAdaption\)/,
    );
    expect(resolveComponents()).toEqual({ location: true, shape: true, featureAdaption: true });
  });

  it('S only (no location branch): every location is evaluated, no εL mask, no sparse path', () => {
    const { store, fn } = build(
      { location: false },
      { sparseInference: 'always', locationThreshold: 0.5 },
    );
    const full = build({}, { sparseInference: 'always', locationThreshold: 0.5 });
    const feature = featureOf(2, 8, 3);
    const before = tf.memory().numTensors;
    expect(fn.applyCompact(inference(feature))).toBeNull();
    const out = fn.apply(inference(feature));
    expect(out.evaluated).toBeUndefined();
    expect(out.extras?.locLogits).toBeUndefined();
    expect(out.clsScores.shape).toEqual([2, 64, 3]);
    // The anchors are still the shape branch's (not the base squares).
    const predicted = tf.tidy(() =>
      guidedAnchors(fn.shape!.apply(feature), strides[0]!, { squareScale: 4 }),
    );
    expect(Array.from(out.priors.dataSync())).toEqual(Array.from(predicted.dataSync()));
    // The full GA at the same εL = 0.5 evaluates only some of the locations.
    const reference = full.fn.apply(inference(feature));
    expect(Array.from(reference.evaluated!.dataSync()).some((v) => v === 0)).toBe(true);
    disposeOutput(out);
    disposeOutput(reference);
    predicted.dispose();
    expect(tf.memory().numTensors).toBe(before);
    feature.dispose();
    store.dispose();
    full.store.dispose();
  });

  it('L only (no shape branch): every anchor is the base σ·s square at its centre', () => {
    const { store, fn } = build({ shape: false, featureAdaption: false });
    const feature = featureOf(1, 4, 5);
    const before = tf.memory().numTensors;
    for (const [level, stride] of strides.entries()) {
      const out = fn.apply(inference(feature, level));
      expect(out.extras?.shapePred).toBeUndefined();
      const priors = out.priors.arraySync() as number[][][];
      // σ = 4: 4·s squares centred at (x·s, y·s) (centre offset 0).
      const half = 2 * stride;
      priors[0]!.forEach(([x1, y1, x2, y2], cell) => {
        const cx = (cell % 4) * stride;
        const cy = Math.floor(cell / 4) * stride;
        expect([x1, y1, x2, y2]).toEqual([cx - half, cy - half, cx + half, cy + half]);
      });
      disposeOutput(out);
    }
    expect(tf.memory().numTensors).toBe(before);
    feature.dispose();
    store.dispose();
  });

  it('no F.A.: the final convs read the raw feature (no deformable conv), dense = sparse', () => {
    const off = build({ featureAdaption: false }, { sparseInference: 'always' });
    const on = build({}, { sparseInference: 'always' });
    const feature = featureOf(2, 8, 7);
    const before = tf.memory().numTensors;
    const out = off.fn.apply(inference(feature));
    const cls = off.store.entries().filter((e) => e.name.startsWith('retina_cls.'));
    const weight = cls.find((e) => e.name.endsWith('weight'))!.variable as tf.Tensor4D;
    const bias = cls.find((e) => e.name.endsWith('bias'))!.variable as tf.Tensor1D;
    const expected = tf.tidy(() =>
      tf.reshape(tf.add(tf.conv2d(feature, weight, 1, 'same'), bias), [2, 64, 3]),
    );
    expectClose(out.clsScores.dataSync(), expected.dataSync(), { atol: 1e-6, rtol: 1e-6 });
    const adapted = on.fn.apply(inference(feature));
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(adapted.clsScores, expected))).dataSync()[0]!);
    expect(gap).toBeGreaterThan(1e-3);
    // The sparse path skips the adaption the same way.
    const half = Math.log(0.01 / 0.99);
    for (const variant of [off, build({ shape: false, featureAdaption: false })]) {
      const bias = tf.tensor1d([half]);
      variant.fn.location!.conv.bias?.assign(bias);
      bias.dispose();
      const dense = variant.fn.apply(inference(feature));
      const compact = variant.fn.applyCompact(inference(feature))!;
      const kept = Array.from(dense.evaluated!.dataSync() as Uint8Array);
      const rows = (t: tf.Tensor, width: number) =>
        Array.from(t.dataSync()).filter((_, i) => kept[Math.floor(i / width)]);
      expect(compact.clsScores.shape[0]).toBe(kept.reduce((n, v) => n + v, 0));
      expect(compact.clsScores.shape[0]).toBeLessThan(kept.length);
      expectClose(compact.clsScores.dataSync(), rows(dense.clsScores, 3), {
        atol: 1e-5,
        rtol: 1e-5,
      });
      expectClose(compact.boxDeltas.dataSync(), rows(dense.boxDeltas, 4), {
        atol: 1e-5,
        rtol: 1e-5,
      });
      expect(Array.from(compact.priors.dataSync())).toEqual(rows(dense.priors, 4));
      disposeOutput(dense);
      disposeLevelOutputs([compact]);
      if (variant !== off) variant.store.dispose();
    }
    tf.dispose([expected]);
    disposeOutput(out);
    disposeOutput(adapted);
    expect(tf.memory().numTensors).toBe(before);
    feature.dispose();
    off.store.dispose();
    on.store.dispose();
  });

  it('trains only the branches that are on: loss_loc without S, loss_shape without L, none without both', async () => {
    const features = strides.map((s, level) => featureOf(2, 64 / s, level + 1));
    const gtBoxes = [
      tf.tensor2d([
        [4, 6, 30, 40],
        [20, 20, 60, 52],
      ]),
      tf.zeros([0, 4]) as tf.Tensor2D,
    ];
    const gtLabels = [tf.tensor1d([0, 2], 'int32'), tf.zeros([0], 'int32') as tf.Tensor1D];
    const context = {
      targets: { gtBoxes, gtLabels },
      imageShapes: [
        [64, 64],
        [64, 64],
      ] as [number, number][],
    };
    const cases: [GuidedAnchorComponents, string[], string[]][] = [
      [{ shape: false, featureAdaption: false }, ['loss_loc'], ['conv_loc']],
      [{ location: false, featureAdaption: false }, ['loss_shape'], ['conv_shape']],
      [{ location: false, shape: false, featureAdaption: false }, [], []],
    ];
    for (const [components, lossNames, trained] of cases) {
      const { store, fn } = build(components, { shapeTargets: {} });
      const before = tf.memory().numTensors;
      const outputs = features.map((f, level) =>
        fn.apply({ level, clsFeature: f, regFeature: f, training: true, plan: undefined }),
      );
      const prepared = await fn.prepareAuxiliary(outputs, context);
      expect(Object.keys(prepared).sort(), JSON.stringify(components)).toEqual(
        [
          ...(components.location === false ? [] : ['labels']),
          ...(components.shape === false ? [] : ['shapeTargets']),
        ].sort(),
      );
      fn.disposeAuxiliary(prepared);
      outputs.forEach(disposeOutput);
      const names = new Map(store.entries().map((e) => [e.variable.name, e.name.split('.')[0]]));
      const variables = store
        .trainableVariables()
        .filter((v) => !names.get(v.name)?.startsWith('retina_'));
      if (variables.length > 0) {
        const { value, grads } = tf.variableGrads(() => {
          const levelOutputs = features.map((f, level) =>
            fn.apply({ level, clsFeature: f, regFeature: f, training: true, plan: undefined }),
          );
          const losses = fn.auxiliaryLosses(levelOutputs, context);
          expect(Object.keys(losses)).toEqual(lossNames);
          for (const l of Object.values(losses)) expect(l.dataSync()[0]).toBeGreaterThan(0);
          return tf.addN(Object.values(losses) as tf.Scalar[]) as tf.Scalar;
        }, variables);
        const withGrad = Object.entries(grads)
          .filter(([, g]) => Array.from(g.dataSync()).some((v) => v !== 0))
          .map(([name]) => names.get(name));
        expect([...new Set(withGrad)]).toEqual(trained);
        tf.dispose([value, ...Object.values(grads)]);
      } else {
        const levelOutputs = features.map((f, level) =>
          fn.apply({ level, clsFeature: f, regFeature: f, training: true, plan: undefined }),
        );
        expect(fn.auxiliaryLosses(levelOutputs, context)).toEqual({});
        levelOutputs.forEach(disposeOutput);
      }
      expect(tf.memory().numTensors).toBe(before);
      store.dispose();
    }
    tf.dispose([...features, ...gtBoxes, ...gtLabels]);
  });
});
