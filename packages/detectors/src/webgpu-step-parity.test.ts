import { initBackend } from '@det/core';
import { onBackend } from '@det/core/testing';
import type { Detections } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from './create-detector';
import {
  compositionBatch,
  disposeCompositionBatch,
  withCompositionTest,
} from './testing/composition-cases';
import { everyKind } from './testing/every-kind';
import { type StepValues, stepValues, worstGradientError } from './testing/step-values';

/**
 * One training step and one predict of every detector kind and anchor scheme on webgpu — lavapipe (software
 * Vulkan, scripts/install-lavapipe.sh) on a CPU machine — against wasm in the same process.
 * webgpu has no synchronous readback, so its step is the two-phase one (`prepareLosses`, then
 * a gradient closure that reads nothing back); wasm runs its one-pass step. Tiny presets at
 * 64 px, batch 2. Never skipped: without a Vulkan driver this fails with the reason.
 *
 * Tolerance: each loss within 1e-4 relative (+1e-6); each parameter's gradient within 1e-3 of
 * its largest entry plus 1 % of the model's largest (`worstGradientError`) — float32
 * reassociation across two backends over a ResNet + FPN + head forward and backward; a wrong
 * target, sample or gradient is off by far more (wasm's MaxPoolGrad bug, fixed in @det/core:
 * 12 % of P5's largest entry). Predict: see below.
 */
const lossTolerance = { relative: 1e-4, absolute: 1e-6 };
const gradientTolerance = 1e-3;

beforeAll(async () => {
  try {
    await initBackend({ backend: 'webgpu', allowSoftwareAdapter: true });
  } catch (error) {
    throw new Error(
      `the webgpu step parity suite needs a Vulkan driver (on a CPU machine: run scripts/install-lavapipe.sh as root): ${(error as Error).message}`,
    );
  }
});

/** Detections as plain numbers, image by image. */
type Predicted = { boxes: number[]; scores: number[]; labels: number[] }[];

/**
 * Lavapipe compiles every shader on the CPU, so the test command runs the smallest set that
 * covers each meta-architecture, head style, proposal source and anchor scheme once:
 * single-stage retina + dense, single-stage rpn + meta, two-stage rpn + guided, two-stage
 * precomputed, retina + meta-guided. `DET_WEBGPU_ALL_KINDS=1` runs all 13 kinds (~8 min on a
 * loaded 2-core machine); `DET_WEBGPU_KINDS=RPN,…` the named ones.
 */
const covering = [
  'RetinaNet',
  'Meta-RPN',
  'GA-Faster R-CNN',
  'Fast R-CNN',
  'meta-guided RetinaNet',
];
/**
 * Two-stage kinds whose untrained RPN scores nearly every anchor ≈ 0.5: float32 noise between
 * the backends reorders those near-ties in top-k / NMS, so the proposals and then the sampled
 * RoIs differ a little (measured 2026-11-30: gradients 0.4–1 % off on this scale, one of 8
 * detections swapped). They are held to the losses (1e-3 relative) and gradients (3 %); the
 * proposal and RoI code itself is checked strictly by GA-Faster R-CNN and Fast R-CNN.
 */
const tiedProposals = new Set(['Faster R-CNN', 'Meta-Faster R-CNN', 'meta-guided Faster R-CNN']);

const kinds =
  process.env.DET_WEBGPU_KINDS?.split(',') ??
  (process.env.DET_WEBGPU_ALL_KINDS === '1' ? Object.keys(everyKind) : covering);

describe('one training step and a predict of every kind on webgpu equal wasm', () => {
  it('the covering set names real kinds and every scheme', () => {
    expect(covering.every((name) => name in everyKind)).toBe(true);
  });

  it.each(kinds)(
    '%s',
    async (name) => {
      const kind = everyKind[name]!;
      // The composition test settings: an untrained model returns 8 boxes per image.
      const config = withCompositionTest(kind.config());
      const plain = (detections: Detections[]): Predicted =>
        detections.map((d) => ({
          boxes: Array.from(d.boxes),
          scores: Array.from(d.scores),
          labels: Array.from(d.labels),
        }));
      const reference = await onBackend('wasm', async () => {
        const batch = compositionBatch();
        const detector = createDetector(config);
        try {
          const predicted = plain(
            detector.predict(batch.images, batch.imageShapes, { proposals: batch.proposals! }),
          );
          return { ...(await stepValues(detector, batch, 'one-pass')), predicted };
        } finally {
          disposeCompositionBatch(batch);
          detector.dispose();
        }
      });
      expect(tf.getBackend()).toBe('webgpu');
      const batch = compositionBatch();
      const detector = createDetector(config);
      let actual: StepValues;
      let predicted: Predicted;
      try {
        // Warm-up predict: dense heads cache their priors on the first forward.
        predicted = plain(
          await detector.predictAsync!(batch.images, batch.imageShapes, {
            proposals: batch.proposals!,
          }),
        );
        const before = tf.memory().numTensors;
        actual = await stepValues(detector, batch, 'two-phase');
        expect(tf.memory().numTensors, 'tensors after the step').toBe(before);
        await detector.predictAsync!(batch.images, batch.imageShapes, {
          proposals: batch.proposals!,
        });
        expect(tf.memory().numTensors, 'tensors after predict').toBe(before);
      } finally {
        disposeCompositionBatch(batch);
        detector.dispose();
      }
      expect(Object.keys(actual.losses).sort()).toEqual(kind.losses);
      const tied = tiedProposals.has(name);
      const relative = tied ? 1e-3 : lossTolerance.relative;
      for (const [key, want] of Object.entries(reference.losses)) {
        const got = actual.losses[key]!;
        const error = Math.abs(got - want);
        expect(
          error <= lossTolerance.absolute + relative * Math.abs(want),
          `${key}: webgpu ${got}, wasm ${want}`,
        ).toBe(true);
      }
      const worst = worstGradientError(actual, reference);
      expect(worst.error, `worst gradient: ${worst.parameter}`).toBeLessThan(
        tied ? 0.03 : gradientTolerance,
      );
      if (tied) return;
      // Predict (before the step, untrained weights): the same number of detections, and each
      // wasm detection scoring clearly above the image's last kept one (by 1e-4: an untrained
      // model's near-tied scores may swap at the cut) found on webgpu with its label, its score
      // within 1e-4 and its box within 1e-3 px.
      expect(predicted.map((d) => d.scores.length)).toEqual(
        reference.predicted.map((d) => d.scores.length),
      );
      for (const [image, want] of reference.predicted.entries()) {
        const got = predicted[image]!;
        const cut = Math.min(...want.scores) + 1e-4;
        for (const [i, score] of want.scores.entries()) {
          if (score <= cut) continue;
          const found = got.scores.some(
            (s, j) =>
              Math.abs(s - score) < 1e-4 &&
              got.labels[j] === want.labels[i] &&
              [0, 1, 2, 3].every(
                (k) => Math.abs(got.boxes[4 * j + k]! - want.boxes[4 * i + k]!) < 1e-3,
              ),
          );
          expect(found, `image ${image} detection ${i} (score ${score}) on webgpu`).toBe(true);
        }
      }
    },
    300_000,
  );
});
