import { initBackend } from '@det/core';
import { disposeLevelOutputs } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from './create-detector';
import { countKeptAnchors, guidedAnchorMaps } from './guided-anchor-maps';
import { presets } from './presets';
import { guidedAnchorFunctionOf } from './scheme-access';
import { SingleStageDetector } from './single-stage-detector';

describe('guidedAnchorMaps / countKeptAnchors', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('gives each level its p map and anchors; the p ≥ εL count is what masked inference evaluates', async () => {
    const detector = createDetector(presets.tinyGaRetinaNet(2));
    if (!(detector instanceof SingleStageDetector)) throw new Error('single-stage expected');
    const image = tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const levels = await guidedAnchorMaps(detector, image);
    expect(tf.memory().numTensors).toBe(before);
    expect(levels.map((l) => [l.stride, l.height, l.width])).toEqual([
      [8, 8, 8],
      [16, 4, 4],
      [32, 2, 2],
      [64, 1, 1],
      [128, 1, 1],
    ]);
    for (const level of levels) {
      expect(level.anchors.length).toBe(level.height * level.width * 4);
      expect(level.probabilities.every((p) => p > 0 && p < 1)).toBe(true);
    }
    // Anchor of location (y 2, x 3) on P3: centred on (3·8, 2·8) (mmdetection centre offset 0).
    const p3 = levels[0]!;
    const row = 2 * p3.width + 3;
    const [x0, y0, x1, y1] = Array.from(p3.anchors.slice(row * 4, row * 4 + 4));
    expect((x0! + x1!) / 2).toBeCloseTo(24, 3);
    expect((y0! + y1!) / 2).toBeCloseTo(16, 3);

    const all = levels.reduce((n, l) => n + l.probabilities.length, 0);
    expect(all).toBe(64 + 16 + 4 + 1 + 1);
    expect(countKeptAnchors(levels, 0)).toBe(all);
    const sorted = levels.flatMap((l) => Array.from(l.probabilities)).sort((a, b) => a - b);
    const anchorFunction = guidedAnchorFunctionOf(detector)!;
    for (const index of [10, 40, 80]) {
      const threshold = (sorted[index - 1]! + sorted[index]!) / 2;
      expect(countKeptAnchors(levels, threshold)).toBe(all - index);
      anchorFunction.setLocationThreshold(threshold);
      const head = detector.denseHead;
      const outputs = tf.tidy(
        () =>
          head.forward(
            detector.backbone.apply(image, { training: false }),
          ) as unknown as tf.TensorContainer,
      ) as unknown as ReturnType<typeof head.forward>;
      const evaluated = outputs.reduce(
        (n, o) => n + (o.evaluated!.dataSync() as Uint8Array).reduce((m, v) => m + v, 0),
        0,
      );
      disposeLevelOutputs(outputs);
      expect(evaluated).toBe(all - index);
    }
    expect(countKeptAnchors([], 0.5)).toBe(0);
    image.dispose();
    detector.dispose();
  });

  it('refuses a detector without a Guided Anchoring head', async () => {
    const detector = createDetector(presets.tinyRetinaNet(2));
    const image = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    await expect(guidedAnchorMaps(detector, image)).rejects.toThrow(
      /guidedAnchorMaps: the single-stage detector has no Guided Anchoring head/,
    );
    image.dispose();
    detector.dispose();
  });
});
