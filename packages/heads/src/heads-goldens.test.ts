import { readFileSync } from 'node:fs';
import {
  initBackend,
  type ParameterStore,
  RandomSampler,
  type Sampler,
  ParameterStore as Store,
  withInitializerSeed,
} from '@det/core';
import { expectClose, type GoldenTensor, type Tolerance } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AnchorHead, disposeLevelOutputs } from './anchor-head';
import { createRetinaHead } from './retina-head';
import { RoiHead } from './roi-head';
import { createRpnHead } from './rpn-head';
import type { Detections, HeadTargets, ImageShape } from './types';

/**
 * Goldens from scripts/fixtures/heads-goldens.py: mmdetection v2.28's RPN, RetinaNet and
 * RoI head computations written out in torch (float64) from torchvision parts, on fixed
 * features and weights, batch 2 with an image without ground truth (and, for the RoI head,
 * an image without proposals).
 */
interface DenseCase {
  image: [number, number];
  strides: number[];
  ratios: number[];
  scales: number[];
  inChannels: number;
  featChannels: number;
  numClasses: number;
  features: GoldenTensor[];
  weights: Record<string, GoldenTensor>;
  gtBoxes: GoldenTensor[];
  gtLabels: number[][];
  numPositives: number;
  numNegatives: number;
  losses: { cls: number; bbox: number };
  gradFeatures: GoldenTensor[];
  proposalConfig?: {
    nmsPre: number;
    iouThreshold: number;
    maxPerImage: number;
    minBoxSize: number;
  };
  proposals?: { boxes: GoldenTensor; scores: GoldenTensor }[];
  testConfig?: {
    nmsPre: number;
    scoreThreshold: number;
    iouThreshold: number;
    maxPerImage: number;
  };
  detections?: GoldenDetections[];
}
interface GoldenDetections {
  boxes: GoldenTensor;
  scores: GoldenTensor;
  labels: number[];
}
interface RoiCase {
  name: string;
  image: [number, number];
  featmapStrides: number[];
  inChannels: number;
  roiSize: number;
  fcChannels: number;
  numClasses: number;
  features: GoldenTensor[];
  weights: Record<string, GoldenTensor>;
  proposals: GoldenTensor[];
  gtBoxes: GoldenTensor[];
  gtLabels: number[][];
  targets: { positives: number; negatives: number; labels: number[] }[];
  losses: { cls: number; bbox: number };
  gradFeatures: GoldenTensor[];
  testConfig: { scoreThreshold: number; iouThreshold: number; maxPerImage: number };
  detections: GoldenDetections[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./__fixtures__/heads.json', import.meta.url), 'utf8'),
) as { rpn: DenseCase; retina: DenseCase; roi: RoiCase[] };

/**
 * float32 on wasm against float64. Measured worst |error| / (|expected| + 1): losses
 * 6.5e-7, feature gradients 3.3e-7, scores 2.4e-7, boxes 8.4e-6.
 */
const lossTolerance: Tolerance = { atol: 1e-5, rtol: 1e-5 };
const gradientTolerance: Tolerance = { atol: 1e-5, rtol: 1e-4 };
const scoreTolerance: Tolerance = { atol: 1e-6, rtol: 1e-5 };
/**
 * Loosened: decoded boxes are pixel coordinates up to 128 (an anchor moved by exp of float32
 * deltas, then clipped), measured up to ~9e-4 px off the float64 reference.
 */
const boxTolerance: Tolerance = { atol: 2e-3, rtol: 1e-5 };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const tensorOf = (golden: GoldenTensor) => tf.tensor(Array.from(golden.data), golden.shape);

/** Loads the golden weights, by det's parameter names, into a freshly built (seeded) head. */
function loadWeights(store: ParameterStore, weights: Record<string, GoldenTensor>): void {
  const names = store.entries().map((entry) => entry.name);
  expect(names.sort()).toEqual(Object.keys(weights).sort());
  for (const entry of store.entries()) {
    const golden = weights[entry.name]!;
    expect(entry.variable.shape, entry.name).toEqual(golden.shape);
    tf.tidy(() => entry.variable.assign(tensorOf(golden)));
  }
}

function targetsOf(testCase: { gtBoxes: GoldenTensor[]; gtLabels: number[][] }): HeadTargets {
  return {
    gtBoxes: testCase.gtBoxes.map((boxes) => tensorOf(boxes) as tf.Tensor2D),
    gtLabels: testCase.gtLabels.map((labels) => tf.tensor1d(labels, 'int32')),
  };
}

function disposeTargets(targets: HeadTargets): void {
  tf.dispose([...targets.gtBoxes, ...targets.gtLabels]);
}

function expectDetections(actual: Detections[], expected: GoldenDetections[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((detections, image) => {
    const golden = expected[image]!;
    expect(Array.from(detections.labels), `image ${image} labels`).toEqual(golden.labels);
    expectClose(detections.scores, golden.scores.data, {
      ...scoreTolerance,
      label: `image ${image} scores`,
    });
    expectClose(detections.boxes, golden.boxes.data, {
      ...boxTolerance,
      label: `image ${image} boxes`,
    });
  });
}

/** Losses and d(loss_cls + loss_bbox)/d features of a dense head against the golden. */
function expectDenseLosses(head: AnchorHead, testCase: DenseCase, prefix: string): void {
  const features = testCase.features.map((f) => tensorOf(f) as tf.Tensor4D);
  const targets = targetsOf(testCase);
  const imageShapes: ImageShape[] = [testCase.image, testCase.image];
  // The anchor function keeps its priors per level until dispose(): count after a first forward.
  disposeLevelOutputs(head.forward(features));
  const before = tf.memory().numTensors;
  const outputs = head.forward(features, { training: true });
  const losses = head.loss(outputs, targets, imageShapes);
  expect(Object.keys(losses).sort()).toEqual([`loss_${prefix}bbox`, `loss_${prefix}cls`]);
  expectClose([losses[`loss_${prefix}cls`]!.dataSync()[0]!], [testCase.losses.cls], {
    ...lossTolerance,
    label: 'loss_cls',
  });
  expectClose([losses[`loss_${prefix}bbox`]!.dataSync()[0]!], [testCase.losses.bbox], {
    ...lossTolerance,
    label: 'loss_bbox',
  });
  tf.dispose(Object.values(losses));
  disposeLevelOutputs(outputs);
  const gradients = tf.grads((...levels: tf.Tensor[]) => {
    const levelOutputs = head.forward(levels as tf.Tensor4D[], { training: true });
    const record = head.loss(levelOutputs, targets, imageShapes);
    const total = tf.add(record[`loss_${prefix}cls`]!, record[`loss_${prefix}bbox`]!);
    disposeLevelOutputs(levelOutputs);
    return total as tf.Scalar;
  })(features);
  gradients.forEach((gradient, level) => {
    expectClose(gradient, testCase.gradFeatures[level]!, {
      ...gradientTolerance,
      label: `d loss / d features[${level}]`,
    });
  });
  tf.dispose(gradients);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose(features);
  disposeTargets(targets);
}

describe('RPN head against the mmdetection computation (batch 2, one image without gt)', () => {
  const testCase = fixture.rpn;
  const build = () => {
    const store = new Store();
    const head = withInitializerSeed(1, () =>
      createRpnHead({
        store,
        inChannels: testCase.inChannels,
        featChannels: testCase.featChannels,
        strides: testCase.strides,
        anchors: { ratios: testCase.ratios, scales: testCase.scales },
      }),
    );
    loadWeights(store, testCase.weights);
    return { store, head };
  };

  it('has targets the random sampler takes whole (5 positives, 170 negatives)', () => {
    // The golden assumes every positive and negative is sampled (≤ 128 / 256).
    expect([testCase.numPositives, testCase.numNegatives]).toEqual([5, 170]);
  });

  it('loss_rpn_cls, loss_rpn_bbox and their feature gradients; no leak', () => {
    const { store, head } = build();
    expectDenseLosses(head, testCase, 'rpn_');
    head.dispose();
    store.dispose();
  });

  it('proposals: per-level top-k, decode + clip, per-level NMS, best maxPerImage', () => {
    const { store, head } = build();
    const features = testCase.features.map((f) => tensorOf(f) as tf.Tensor4D);
    const outputs = head.forward(features);
    const before = tf.memory().numTensors;
    const proposals = head.proposals(outputs, [testCase.image, testCase.image], {
      ...testCase.proposalConfig!,
    });
    expect(tf.memory().numTensors).toBe(before);
    disposeLevelOutputs(outputs);
    expect(proposals.map((p) => p.scores.length)).toEqual(
      testCase.proposals!.map((p) => p.scores.shape[0]),
    );
    proposals.forEach((image, index) => {
      const golden = testCase.proposals![index]!;
      expectClose(image.scores, golden.scores.data, {
        ...scoreTolerance,
        label: `image ${index} scores`,
      });
      expectClose(image.boxes, golden.boxes.data, {
        ...boxTolerance,
        label: `image ${index} boxes`,
      });
    });
    tf.dispose(features);
    head.dispose();
    store.dispose();
  });
});

describe('RetinaNet head against the mmdetection computation (batch 2, one image without gt)', () => {
  const testCase = fixture.retina;
  const build = () => {
    const store = new Store();
    const head = withInitializerSeed(2, () =>
      createRetinaHead({
        store,
        numClasses: testCase.numClasses,
        inChannels: testCase.inChannels,
        featChannels: testCase.featChannels,
        stackedConvs: 1,
        strides: testCase.strides,
        anchors: { ratios: testCase.ratios, scales: testCase.scales },
      }),
    );
    loadWeights(store, testCase.weights);
    return { store, head };
  };

  it('focal loss_cls, L1 loss_bbox (over 8 positives) and their feature gradients; no leak', () => {
    expect(testCase.numPositives).toBe(8);
    const { store, head } = build();
    expectDenseLosses(head, testCase, '');
    head.dispose();
    store.dispose();
  });

  it('detections: sigmoid scores, decode + clip, multiclass NMS', () => {
    const { store, head } = build();
    const features = testCase.features.map((f) => tensorOf(f) as tf.Tensor4D);
    const outputs = head.forward(features);
    const before = tf.memory().numTensors;
    const detections = head.predict(outputs, [testCase.image, testCase.image], {
      ...testCase.testConfig!,
    });
    expect(tf.memory().numTensors).toBe(before);
    disposeLevelOutputs(outputs);
    expectDetections(detections, testCase.detections!);
    tf.dispose(features);
    head.dispose();
    store.dispose();
  });
});

/** Records what the sampler returned per image: the RoI head's targets. */
function recordingSampler(inner: Sampler, record: { positives: number; negatives: number }[]) {
  return {
    sample(...args: Parameters<Sampler['sample']>) {
      const result = inner.sample(...args);
      record.push({ positives: result.posIndices.shape[0], negatives: result.negIndices.shape[0] });
      return result;
    },
  } satisfies Sampler;
}

describe('RoI head against the mmdetection computation (batch 2)', () => {
  for (const testCase of fixture.roi) {
    it(`${testCase.name}: targets, loss_cls, loss_bbox, gradients, detections; no leak`, () => {
      const sampled: { positives: number; negatives: number }[] = [];
      const store = new Store();
      const head = withInitializerSeed(3, () => {
        // The default sampler (mmdetection rcnn: 512 RoIs, 25 % positive, gt added as
        // proposals), wrapped to record the targets.
        const sampler = new RandomSampler({
          num: 512,
          posFraction: 0.25,
          negPosUpperBound: -1,
          addGtAsProposals: true,
          seed: 0,
        });
        return new RoiHead({
          store,
          inChannels: testCase.inChannels,
          numClasses: testCase.numClasses,
          featmapStrides: testCase.featmapStrides,
          fcChannels: testCase.fcChannels,
          roiSize: testCase.roiSize,
          sampler: recordingSampler(sampler, sampled),
        });
      });
      loadWeights(store, testCase.weights);
      const features = testCase.features.map((f) => tensorOf(f) as tf.Tensor4D);
      const proposals = testCase.proposals.map((p) => tensorOf(p) as tf.Tensor2D);
      const targets = targetsOf(testCase);
      const before = tf.memory().numTensors;
      const losses = head.loss(features, proposals, targets);
      expect(sampled).toEqual(
        testCase.targets.map(({ positives, negatives }) => ({ positives, negatives })),
      );
      expectClose([losses.loss_cls!.dataSync()[0]!], [testCase.losses.cls], {
        ...lossTolerance,
        label: 'loss_cls',
      });
      expectClose([losses.loss_bbox!.dataSync()[0]!], [testCase.losses.bbox], {
        ...lossTolerance,
        label: 'loss_bbox',
      });
      tf.dispose(Object.values(losses));
      // Only P2 and P3 receive RoIs here (tf.grads refuses inputs off the path); the
      // golden gradients of P4 and P5 are zero.
      const pooled = [0, 1];
      for (const level of [2, 3]) {
        expect(Array.from(testCase.gradFeatures[level]!.data).every((v) => v === 0)).toBe(true);
      }
      const gradients = tf.grads((...levels: tf.Tensor[]) => {
        const all = features.map((f, l) => (pooled.includes(l) ? levels[l]! : f));
        const record = head.loss(all as tf.Tensor4D[], proposals, targets);
        return tf.add(record.loss_cls!, record.loss_bbox!) as tf.Scalar;
      })(pooled.map((l) => features[l]!));
      gradients.forEach((gradient, level) => {
        expectClose(gradient, testCase.gradFeatures[level]!, {
          ...gradientTolerance,
          label: `d loss / d features[${level}]`,
        });
      });
      tf.dispose(gradients);
      const detections = head.predict(
        features,
        testCase.proposals.map((p) => Float32Array.from(p.data)),
        [testCase.image, testCase.image],
        testCase.testConfig,
      );
      expect(tf.memory().numTensors).toBe(before);
      expectDetections(detections, testCase.detections);
      tf.dispose([...features, ...proposals]);
      disposeTargets(targets);
      store.dispose();
    });
  }
});
