import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import { createRetinaHead, disposeLevelOutputs } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MetaAnchorFunction, metaAnchorFunction } from './meta-anchor-function';

const strides = [8, 16, 32];
const denseAnchors = { ratios: [0.5, 1, 2], octaveBaseScale: 4, scalesPerOctave: 3 };
const small = { inChannels: 4, featChannels: 4, stackedConvs: 1 } as const;

function features(batch: number, size: number, channels: number): tf.Tensor4D[] {
  return strides.map((stride, level) =>
    tf.randomNormal([batch, size / stride, size / stride, channels], 0, 1, 'float32', level + 11),
  ) as tf.Tensor4D[];
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function metaHead(
  store: ParameterStore,
  options: Parameters<typeof metaAnchorFunction>[0] = {},
  seed = 0,
) {
  // Initial weights from `seed` too (the head's `seed` only seeds the anchor jitter).
  const head = withInitializerSeed(seed, () =>
    createRetinaHead({
      store,
      numClasses: 3,
      ...small,
      strides,
      seed,
      anchorFunction: metaAnchorFunction({ anchors: '3x3', ...options }),
    }),
  );
  return { head, fn: head.anchorFunction as MetaAnchorFunction };
}

describe('MetaAnchorFunction in the RetinaNet head', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const dataDependent of [false, true]) {
    it(`with W2 = 0${dataDependent ? ' and W12 = 0' : ''} equals RetinaNet whose per-anchor filters are all θ*`, () => {
      const denseStore = new ParameterStore();
      const dense = withInitializerSeed(1, () =>
        createRetinaHead({
          store: denseStore,
          numClasses: 3,
          ...small,
          strides,
          anchors: denseAnchors,
        }),
      );
      const store = new ParameterStore();
      const { head, fn } = metaHead(store, { dataDependent });
      expect(store.entries().map((e) => e.name)).toContain('retina_cls.generator.w2');
      // Same towers; dense final filters = θ* tiled over the 9 anchors (channel a·K + k).
      for (const { name, variable } of denseStore.entries()) {
        if (name.startsWith('retina_')) continue;
        variable.assign(store.get(name));
      }
      for (const generator of [fn.cls, fn.reg]) {
        generator.residualWeight.assign(tf.zerosLike(generator.residualWeight));
        generator.residualBias.assign(tf.zerosLike(generator.residualBias));
        generator.contextWeight?.assign(tf.zerosLike(generator.contextWeight));
      }
      tf.tidy(() => {
        denseStore.get('retina_cls.weight').assign(tf.tile(fn.cls.weight, [1, 1, 1, 9]));
        denseStore.get('retina_cls.bias').assign(tf.tile(fn.cls.bias, [9]));
        denseStore.get('retina_reg.weight').assign(tf.tile(fn.reg.weight, [1, 1, 1, 9]));
        denseStore.get('retina_reg.bias').assign(tf.tile(fn.reg.bias, [9]));
      });
      const inputs = features(2, 64, 4);
      disposeLevelOutputs(dense.forward(inputs)); // fills the dense head's prior cache
      const before = tf.memory().numTensors;
      const expected = dense.forward(inputs);
      const got = head.forward(inputs);
      got.forEach((output, level) => {
        const reference = expected[level]!;
        expect(output.clsScores.shape).toEqual(reference.clsScores.shape);
        expect(maxAbsDiff(output.clsScores, reference.clsScores)).toBeLessThan(1e-6);
        expect(maxAbsDiff(output.boxDeltas, reference.boxDeltas)).toBeLessThan(1e-6);
        // Same anchors as mmdetection's generator: eq. 7 round trip, standard box ×2 per level.
        expect(maxAbsDiff(output.priors, reference.priors)).toBeLessThan(1e-3);
      });
      disposeLevelOutputs(expected);
      disposeLevelOutputs(got);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(inputs);
      for (const h of [head, dense]) h.dispose();
      store.dispose();
      denseStore.dispose();
    });
  }

  it('trains on jittered anchors (±0.5, reproducible by seed) with finite gradients everywhere', () => {
    const store = new ParameterStore();
    const { head, fn } = metaHead(store, { dataDependent: true, anchors: '5x5' }, 5);
    const twin = withInitializerSeed(
      5,
      () =>
        new MetaAnchorFunction(
          {
            store: new ParameterStore(),
            inChannels: 4,
            numClasses: 3,
            clsName: 'cls',
            regName: 'reg',
            strides,
            sharedTower: false,
            kernelSize: 3,
            priorProbability: 0.01,
            seed: 5,
          },
          { anchors: '5x5' },
        ),
    );
    expect(fn.standardBox).toEqual([45, 47]);
    const inputs = features(2, 64, 4);
    const targets = {
      gtBoxes: [tf.tensor2d([[4, 6, 30, 50]]), tf.zeros([0, 4]) as tf.Tensor2D],
      gtLabels: [tf.tensor1d([2], 'int32'), tf.zeros([0], 'int32') as tf.Tensor1D],
    };
    const before = tf.memory().numTensors;
    let priors: Float32Array | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const outputs = head.forward(inputs, { training: true });
      priors = outputs[0]!.priors.dataSync() as Float32Array;
      const losses = head.loss(outputs, targets, [
        [64, 64],
        [64, 64],
      ]);
      // tf.add, not tf.addN: tfjs-core 4.22's AddN gradient fails here (dy null).
      return tf.add(losses.loss_cls!, losses.loss_bbox!) as tf.Scalar;
    }, store.trainableVariables());
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    const names = store.entries().map((e) => e.name);
    expect(Object.keys(grads)).toHaveLength(names.length);
    for (const name of names.filter((n) => n.includes('generator') || n.startsWith('retina_'))) {
      const grad = grads[store.get(name).name]!;
      const values = grad.dataSync();
      expect(values.every(Number.isFinite), name).toBe(true);
      expect(
        values.some((v) => v !== 0),
        name,
      ).toBe(true);
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    // The codes used were jittered within ±0.5: the same-seed twin's first draw.
    const used = twin.plan({ training: true }).codes;
    fn.trainingAnchorCodes.forEach((code, a) => {
      const usedCode = used[a]!;
      expect(Math.abs(usedCode[0] - code[0])).toBeLessThanOrEqual(0.5);
      expect(Math.abs(usedCode[1] - code[1])).toBeLessThanOrEqual(0.5);
      expect(usedCode).not.toEqual(code);
      // Targets were assigned against these jittered anchors: the head's priors are theirs.
      const w = priors![a * 4 + 2]! - priors![a * 4]!;
      const h = priors![a * 4 + 3]! - priors![a * 4 + 1]!;
      expect(Math.log(h / 45)).toBeCloseTo(usedCode[0], 4);
      expect(Math.log(w / 47)).toBeCloseTo(usedCode[1], 4);
    });
    // Each forward's plan is a fresh draw; inference plans use the inference anchors.
    expect(twin.plan({ training: true }).codes).not.toEqual(used);
    expect(twin.plan({ training: false }).codes).toEqual(twin.inferenceAnchorCodes);
    tf.dispose([...inputs, ...targets.gtBoxes, ...targets.gtLabels]);
    head.dispose();
    store.dispose();
  });

  it('a few optimiser steps on jittered anchors lower the loss (train step of RetinaNet)', () => {
    const store = new ParameterStore();
    const { head } = metaHead(store, {}, 2);
    const inputs = features(1, 64, 4);
    const targets = {
      gtBoxes: [tf.tensor2d([[8, 4, 24, 52]])],
      gtLabels: [tf.tensor1d([1], 'int32')],
    };
    const optimizer = tf.train.adam(0.01);
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const loss = optimizer.minimize(
        () => {
          const record = head.loss(head.forward(inputs, { training: true }), targets, [[64, 64]]);
          return tf.add(record.loss_cls!, record.loss_bbox!) as tf.Scalar;
        },
        true,
        store.trainableVariables(),
      )!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    // Jitter re-assigns positives every step, so compare means of the first and last five.
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(losses.slice(-5))).toBeLessThan(0.7 * mean(losses.slice(0, 5)));
    optimizer.dispose();
    tf.dispose([...inputs, ...targets.gtBoxes, ...targets.gtLabels]);
    head.dispose();
    store.dispose();
  });

  it('changes anchors and predicted box shapes with the inference anchor set, weights untouched (Fig. 2)', () => {
    const store = new ParameterStore();
    const { head, fn } = metaHead(store, { residualStd: 0.05 });
    const snapshot = store.entries().map((e) => e.variable.dataSync().slice());
    const inputs = features(1, 64, 4);
    const shapes = (ratio: number) => {
      fn.setInferenceAnchors([{ scale: 1, ratio }]);
      const outputs = head.forward(inputs);
      const result = tf.tidy(() => {
        const boxes = head.coder.decode(outputs[1]!.priors, tf.squeeze(outputs[1]!.boxDeltas, [0]));
        const [x1, y1, x2, y2] = tf.unstack(boxes, 1);
        return {
          priorCount: outputs[1]!.priors.shape[0],
          logAspect: tf.mean(tf.log(tf.div(tf.sub(y2!, y1!), tf.sub(x2!, x1!)))).dataSync()[0]!,
          scores: outputs[1]!.clsScores.dataSync().slice(),
        };
      });
      disposeLevelOutputs(outputs);
      return result;
    };
    const tall = shapes(3);
    const wide = shapes(1 / 3);
    expect(tall.priorCount).toBe(4 * 4);
    // Boxes follow their anchor's shape: log(3) vs log(1/3), give or take the small deltas.
    expect(tall.logAspect).toBeGreaterThan(0.5);
    expect(wide.logAspect).toBeLessThan(-0.5);
    expect(tall.logAspect - wide.logAspect).toBeGreaterThan(1.5);
    // The generated anchor functions differ too, not only the priors.
    expect(tall.scores).not.toEqual(wide.scores);
    fn.setInferenceAnchors('9x9');
    const many = head.forward(inputs);
    expect(many[0]!.clsScores.shape).toEqual([1, 8 * 8 * 81, 3]);
    disposeLevelOutputs(many);
    fn.setInferenceAnchors([]);
    const none = head.forward(inputs);
    expect(none[0]!.clsScores.shape).toEqual([1, 0, 3]);
    expect(none[0]!.priors.shape).toEqual([0, 4]);
    disposeLevelOutputs(none);
    store.entries().forEach((e, i) => {
      expect(e.variable.dataSync()).toEqual(snapshot[i]);
    });
    expect(() => fn.setInferenceAnchors([{ scale: 0, ratio: 1 }])).toThrow(/anchors\[0\]/);
    tf.dispose(inputs);
    head.dispose();
    store.dispose();
  });
});
