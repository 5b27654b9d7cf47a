import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import {
  type AnchorHead,
  type AnchorLevelOutput,
  disposeLevelOutputs,
  isCompactLevelOutput,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDenseHead } from './build-parts';
import { parseDetectorConfig, type RetinaHeadConfig } from './config';

const strides = [8, 16];
const channels = 8;

/** A RetinaNet-style head with a `guided` or `meta-guided` scheme on two 8-channel levels. */
function head(type: 'guided' | 'meta-guided', extra: Record<string, unknown> = {}) {
  const config = parseDetectorConfig({
    kind: 'single-stage',
    numClasses: 3,
    head: {
      type: 'retina',
      featChannels: channels,
      stackedConvs: 1,
      anchorScheme: { type, ...(type === 'meta-guided' ? { hiddenSize: 6 } : {}), ...extra },
    },
  });
  if (config.kind !== 'single-stage' || config.head.type !== 'retina') throw new Error('head');
  const store = new ParameterStore();
  const built = withInitializerSeed(3, () =>
    buildDenseHead({
      head: config.head as RetinaHeadConfig,
      numClasses: 3,
      inChannels: channels,
      strides,
      store,
      seed: 0,
    }),
  );
  return { head: built, store };
}

function features(batch: number, size = 64): tf.Tensor4D[] {
  return strides.map(
    (stride, level) =>
      tf.randomNormal(
        [batch, size / stride, size / stride, channels],
        0,
        1,
        'float32',
        level + 5,
      ) as tf.Tensor4D,
  );
}

let targets: { gtBoxes: tf.Tensor2D[]; gtLabels: tf.Tensor1D[] };
const imageShapes = [
  [64, 64],
  [64, 64],
] as const;

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Copies every parameter `to` has from `from` (the meta-guided store holds more). */
function copyShared(from: ParameterStore, to: ParameterStore): void {
  for (const { name, variable } of to.entries()) variable.assign(from.get(name));
}

function zeroResidual(store: ParameterStore): void {
  for (const { name, variable } of store.entries()) {
    if (/generator\.w2(_bias)?$/.test(name)) variable.assign(tf.zerosLike(variable));
  }
}

/** Training: the dense forward; inference: `infer` (sparse at the kept locations). */
function forwardAll(h: AnchorHead, inputs: tf.Tensor4D[], training: boolean) {
  return training ? h.forward(inputs, { training }) : h.infer(inputs);
}

describe('meta-guided: MetaAnchor filters from Guided Anchoring’s per-location anchors', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    targets = {
      gtBoxes: [tf.tensor2d([[4, 6, 40, 44]]), tf.tensor2d([[20, 10, 56, 42]])],
      gtLabels: [tf.tensor1d([1], 'int32'), tf.tensor1d([2], 'int32')],
    };
  });

  it('with W2 = 0 equals GA whose final convs are θ* (training losses and sparse inference, 1e-6)', () => {
    const ga = head('guided');
    const meta = head('meta-guided');
    expect(meta.store.has('bbox_head.retina_cls.generator.w2')).toBe(true);
    expect(meta.store.has('bbox_head.retina_reg.generator.w1')).toBe(true);
    copyShared(meta.store, ga.store);
    zeroResidual(meta.store);
    const inputs = features(2);
    for (const training of [true, false]) {
      const a = forwardAll(ga.head, inputs, training);
      const b = forwardAll(meta.head, inputs, training);
      a.forEach((level, index) => {
        const other = b[index]!;
        expect(maxAbsDiff(level.clsScores, other.clsScores)).toBeLessThan(1e-6);
        expect(maxAbsDiff(level.boxDeltas, other.boxDeltas)).toBeLessThan(1e-6);
        expect(maxAbsDiff(level.priors, other.priors)).toBe(0);
      });
      if (training) {
        const la = ga.head.loss(a as AnchorLevelOutput[], targets, imageShapes);
        const lb = meta.head.loss(b as AnchorLevelOutput[], targets, imageShapes);
        expect(Object.keys(lb).sort()).toEqual(['loss_bbox', 'loss_cls', 'loss_loc', 'loss_shape']);
        for (const key of Object.keys(la)) {
          expect(Math.abs(la[key]!.dataSync()[0]! - lb[key]!.dataSync()[0]!), key).toBeLessThan(
            1e-6,
          );
        }
        tf.dispose([...Object.values(la), ...Object.values(lb)]);
      }
      disposeLevelOutputs(a);
      disposeLevelOutputs(b);
    }
    tf.dispose(inputs);
    for (const part of [ga, meta]) {
      part.head.dispose();
      part.store.dispose();
    }
  });

  it('gradients reach θ*, W1, W2 and the GA branches, all finite', () => {
    const meta = head('meta-guided');
    const inputs = features(2);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => {
      const outputs = meta.head.forward(inputs, { training: true });
      const losses = meta.head.loss(outputs, targets, imageShapes);
      return Object.values(losses).reduce((sum, loss) => tf.add(sum, loss)) as tf.Scalar;
    }, meta.store.trainableVariables());
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    const gradient = (name: string) => grads[meta.store.get(name).name]!.dataSync();
    for (const name of [
      'bbox_head.retina_cls.weight',
      'bbox_head.retina_cls.bias',
      'bbox_head.retina_cls.generator.w1',
      'bbox_head.retina_cls.generator.w2',
      'bbox_head.retina_cls.generator.w2_bias',
      'bbox_head.retina_reg.weight',
      'bbox_head.retina_reg.generator.w1',
      'bbox_head.retina_reg.generator.w2',
      'bbox_head.conv_loc.weight',
      'bbox_head.conv_shape.weight',
      'bbox_head.feature_adaption_cls.conv_adaption.weight',
      'bbox_head.feature_adaption_reg.conv_adaption.weight',
      'bbox_head.cls_convs.0.conv.weight',
    ]) {
      const values = gradient(name);
      expect(values.every(Number.isFinite), name).toBe(true);
      expect(
        values.some((v) => v !== 0),
        name,
      ).toBe(true);
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(inputs);
    meta.head.dispose();
    meta.store.dispose();
  });

  for (const batch of [1, 4]) {
    it(`sparse inference equals dense inference at the kept locations (batch ${batch})`, () => {
      const sparse = head('meta-guided', { locationThreshold: 0.5, sparseInference: 'always' });
      const dense = head('meta-guided', { locationThreshold: 0.5, sparseInference: 'never' });
      // A location branch that keeps about half the locations at εL = 0.5.
      tf.tidy(() => {
        const weight = sparse.store.get('bbox_head.conv_loc.weight');
        weight.assign(tf.randomNormal(weight.shape, 0, 1, 'float32', 11));
        sparse.store.get('bbox_head.conv_loc.bias').assign(tf.zeros([1]));
      });
      copyShared(sparse.store, dense.store);
      const inputs = features(batch);
      const before = tf.memory().numTensors;
      const a = sparse.head.infer(inputs);
      const b = dense.head.infer(inputs);
      let kept = 0;
      let total = 0;
      a.forEach((level, index) => {
        const reference = b[index]!;
        if (!isCompactLevelOutput(level) || isCompactLevelOutput(reference)) {
          throw new Error(`level ${index}: expected a compact sparse and a dense output`);
        }
        const evaluated = reference.evaluated!.dataSync();
        const rows: number[] = [];
        evaluated.forEach((v, row) => {
          if (v) rows.push(row);
        });
        kept += rows.length;
        total += evaluated.length;
        expect(level.rowsPerImage.reduce((n, r) => n + r, 0)).toBe(rows.length);
        for (const field of ['clsScores', 'boxDeltas', 'priors'] as const) {
          const diff = tf.tidy(() => {
            const denseRows = tf.gather(
              tf.reshape(reference[field], [evaluated.length, -1]),
              tf.tensor1d(rows, 'int32'),
            );
            return maxAbsDiff(level[field], denseRows);
          });
          expect(diff, `level ${index} ${field}`).toBeLessThan(1e-5);
        }
      });
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(total);
      disposeLevelOutputs(a);
      disposeLevelOutputs(b);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(inputs);
      for (const part of [sparse, dense]) {
        part.head.dispose();
        part.store.dispose();
      }
    });
  }
});
