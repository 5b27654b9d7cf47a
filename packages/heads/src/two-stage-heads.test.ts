import { initBackend, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposeLevelOutputs } from './anchor-head';
import { multiclassNms } from './post-process';
import { RoiHead } from './roi-head';
import { createRpnHead } from './rpn-head';

const strides = [4, 8, 16, 32, 64];

function pyramid(size: number, channels: number): tf.Tensor4D[] {
  return strides.map((stride, level) =>
    tf.randomNormal(
      [1, Math.ceil(size / stride), Math.ceil(size / stride), channels],
      0,
      1,
      'float32',
      level + 11,
    ),
  ) as tf.Tensor4D[];
}

describe('RPN and RoI heads', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('RPN: binary objectness losses and per-level-NMS proposals within the image', () => {
    const store = new ParameterStore();
    const head = createRpnHead({
      store,
      inChannels: 8,
      featChannels: 8,
      strides,
      anchors: { ratios: [0.5, 1, 2], scales: [8] },
    });
    const features = pyramid(64, 8);
    const outputs = head.forward(features, { training: true });
    expect(outputs[0]!.clsScores.shape).toEqual([1, 16 * 16 * 3, 1]);
    const targets = {
      gtBoxes: [tf.tensor2d([[8, 8, 40, 30]])],
      gtLabels: [tf.tensor1d([3], 'int32')],
    };
    const losses = head.loss(outputs, targets, [[64, 64]]);
    expect(Object.keys(losses).sort()).toEqual(['loss_rpn_bbox', 'loss_rpn_cls']);
    // Near-zero logits at init: the binary cross-entropy is close to log 2.
    expect(losses.loss_rpn_cls!.dataSync()[0]).toBeCloseTo(Math.log(2), 1);
    const [proposals] = head.proposals(outputs, [[64, 64]], { nmsPre: 50, maxPerImage: 20 });
    expect(proposals!.scores.length).toBeLessThanOrEqual(20);
    expect(proposals!.scores.length).toBeGreaterThan(0);
    expect(Array.from(proposals!.boxes).every((v) => v >= 0 && v <= 64)).toBe(true);
    tf.dispose([...Object.values(losses), ...features, ...targets.gtBoxes, ...targets.gtLabels]);
    disposeLevelOutputs(outputs);
    head.dispose();
    store.dispose();
  });

  it('RoI head: softmax + class-specific losses with gradients, and detections per class', () => {
    const store = new ParameterStore();
    const head = new RoiHead({
      store,
      inChannels: 8,
      numClasses: 3,
      featmapStrides: [4, 8, 16, 32],
      fcChannels: 16,
    });
    const features = pyramid(64, 8).slice(0, 4);
    const proposals = [
      tf.tensor2d([
        [6, 8, 38, 30],
        [30, 30, 60, 60],
        [0, 0, 20, 20],
      ]),
    ];
    const targets = {
      gtBoxes: [tf.tensor2d([[8, 8, 40, 30]])],
      gtLabels: [tf.tensor1d([2], 'int32')],
    };
    const { value, grads } = tf.variableGrads(() => {
      const losses = head.loss(features, proposals, targets);
      expect(Object.keys(losses).sort()).toEqual(['loss_bbox', 'loss_cls']);
      return tf.add(losses.loss_cls!, losses.loss_bbox!) as tf.Scalar;
    }, store.trainableVariables());
    // 4 sampled RoIs (gt + 3 proposals): CE at init ≈ log(K + 1).
    expect(value.dataSync()[0]).toBeGreaterThan(Math.log(4) * 0.9);
    expect(Object.keys(grads)).toHaveLength(store.trainableVariables().length);
    const [detections] = head.predict(
      features,
      [new Float32Array([6, 8, 38, 30, 30, 30, 60, 60])],
      [[64, 64]],
      {
        scoreThreshold: 0.1,
      },
    );
    // Uniform softmax (≈ 0.25 each) keeps every class of both RoIs.
    expect(detections!.scores.length).toBe(6);
    tf.dispose([
      value,
      ...Object.values(grads),
      ...features,
      ...proposals,
      ...targets.gtBoxes,
      ...targets.gtLabels,
    ]);
    store.dispose();
  });

  it('multiclassNms suppresses within a class only and keeps maxPerImage', () => {
    const boxes = new Float32Array([0, 0, 10, 10, 1, 1, 10, 10, 50, 50, 60, 60]);
    const scores = new Float32Array([0.9, 0.8, 0.7, 0.6, 0.01, 0.3]);
    const result = multiclassNms(boxes, scores, 2, {
      scoreThreshold: 0.05,
      iouThreshold: 0.5,
      maxPerImage: 3,
    });
    // Row 1 (class 0) is suppressed by row 0; class 1 of rows 0 and 1 likewise.
    expect(Array.from(result.labels)).toEqual([0, 1, 1]);
    expect(Array.from(result.scores)).toEqual([0.9, 0.8, 0.3].map(Math.fround));
    expect(multiclassNms(new Float32Array(0), new Float32Array(0), 2).scores.length).toBe(0);
  });
});
