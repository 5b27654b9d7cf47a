import { initBackend } from '@det/core';
import type { Detections } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from './create-detector';
import { withCompositionTest } from './testing/composition-cases';
import { batchWithoutGtInImage1, everyKind as kinds } from './testing/every-kind';

/**
 * Every detector kind, untrained (tiny preset, 64 px, batch 2): one `losses` and one `predict`
 * on a batch whose second image has no ground truth, then a `predict` in which nothing
 * survives (zero proposals for two-stage kinds, zero detections for single-stage ones), each
 * checked for leaked tensors. No training: this is the quick check that every kind handles
 * the empty cases; the overfit tests check that they learn.
 */
function expectValidDetections(
  detections: Detections,
  [height, width]: readonly [number, number],
  numClasses: number,
  what: string,
): void {
  const count = detections.scores.length;
  expect(detections.boxes.length, `${what} boxes`).toBe(count * 4);
  expect(detections.labels.length, `${what} labels`).toBe(count);
  for (let i = 0; i < count; i++) {
    const [x1, y1, x2, y2] = Array.from(detections.boxes.slice(i * 4, i * 4 + 4));
    // Clipped to the image, and not inverted.
    expect(x1!, `${what} box ${i} x1`).toBeGreaterThanOrEqual(0);
    expect(y1!, `${what} box ${i} y1`).toBeGreaterThanOrEqual(0);
    expect(x2!, `${what} box ${i} x2`).toBeLessThanOrEqual(width);
    expect(y2!, `${what} box ${i} y2`).toBeLessThanOrEqual(height);
    expect(x2! - x1!, `${what} box ${i} width`).toBeGreaterThanOrEqual(0);
    expect(y2! - y1!, `${what} box ${i} height`).toBeGreaterThanOrEqual(0);
    expect(detections.scores[i]!, `${what} score ${i}`).toBeGreaterThanOrEqual(0);
    expect(detections.scores[i]!, `${what} score ${i}`).toBeLessThanOrEqual(1);
    expect(detections.labels[i]!, `${what} label ${i}`).toBeGreaterThanOrEqual(0);
    expect(detections.labels[i]!, `${what} label ${i}`).toBeLessThan(numClasses);
  }
}

describe('every detector kind at batch 2: an image without GT, zero proposals, no leaks', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it.each(Object.keys(kinds))(
    '%s',
    (name) => {
      const kind = kinds[name]!;
      const config = withCompositionTest(kind.config(), false);
      const numClasses = config.kind === 'single-stage' && config.head.type === 'rpn' ? 1 : 3;
      const precomputed = config.kind === 'two-stage' && config.proposals.type === 'precomputed';
      const scheme =
        config.kind === 'single-stage'
          ? config.head.anchorScheme.type
          : config.proposals.type === 'rpn'
            ? config.proposals.anchorScheme.type
            : 'none';
      // The table's name says which scheme the dense head uses.
      const expectedScheme = precomputed
        ? 'none'
        : name.startsWith('meta-guided')
          ? 'meta-guided'
          : name.startsWith('GA-')
            ? 'guided'
            : name.startsWith('Meta')
              ? 'meta'
              : 'dense';
      expect(scheme).toBe(expectedScheme);
      const detector = createDetector(config);
      const batch = batchWithoutGtInImage1();
      // Fast R-CNN: image 1 has no proposals either, in training and at test time.
      const proposals = precomputed ? [batch.proposals![0]!, new Float32Array(0)] : undefined;
      const trainBatch = proposals ? { ...batch, proposals } : { ...batch, proposals: undefined };
      try {
        // Warm-up: dense heads cache their sliding-window priors on the first forward.
        tf.dispose(Object.values(detector.losses(trainBatch)));
        const before = tf.memory().numTensors;

        const losses = detector.losses(trainBatch);
        expect(Object.keys(losses).sort()).toEqual(kind.losses);
        for (const [key, loss] of Object.entries(losses)) {
          const value = loss.dataSync()[0]!;
          expect(Number.isFinite(value), `${key} = ${value}`).toBe(true);
          expect(value, key).toBeGreaterThanOrEqual(0);
        }
        // Image 0's boxes give positives: the classification loss is not zero.
        const clsKey = kind.losses.find((key) => key.includes('cls'))!;
        expect(losses[clsKey]!.dataSync()[0]!, clsKey).toBeGreaterThan(0);
        tf.dispose(Object.values(losses));
        expect(tf.memory().numTensors, 'tensors after losses').toBe(before);

        const detections = detector.predict(batch.images, batch.imageShapes, {
          ...(proposals ? { proposals } : {}),
        });
        expect(tf.memory().numTensors, 'tensors after predict').toBe(before);
        expect(detections).toHaveLength(2);
        // No score floor, 8 per image: an untrained model still returns 8 boxes on an image
        // with candidates; Fast R-CNN's image 1 has no proposals, so no detections.
        expect(detections[0]!.scores.length, 'image 0 detections').toBe(8);
        expect(detections[1]!.scores.length, 'image 1 detections').toBe(precomputed ? 0 : 8);
        for (const [image, d] of detections.entries()) {
          expectValidDetections(d, batch.imageShapes[image]!, numClasses, `image ${image}`);
        }

        // Nothing survives: every image gets an empty result, without a leak.
        const emptyDetector = createDetector(withCompositionTest(kind.config(), true));
        try {
          const emptyProposals = precomputed
            ? [new Float32Array(0), new Float32Array(0)]
            : undefined;
          const predictNone = () =>
            emptyDetector.predict(batch.images, batch.imageShapes, {
              ...(emptyProposals ? { proposals: emptyProposals } : {}),
            });
          predictNone(); // fills the prior cache
          const emptyBefore = tf.memory().numTensors;
          const none = predictNone();
          expect(tf.memory().numTensors, 'tensors after an empty predict').toBe(emptyBefore);
          expect(none.map((d) => [d.scores.length, d.boxes.length, d.labels.length])).toEqual([
            [0, 0, 0],
            [0, 0, 0],
          ]);
        } finally {
          emptyDetector.dispose();
        }
      } finally {
        tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels]);
        detector.dispose();
      }
    },
    120_000,
  );
});
