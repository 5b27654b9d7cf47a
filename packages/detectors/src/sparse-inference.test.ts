import { initBackend } from '@det/core';
import { expectClose } from '@det/core/testing';
import { type AnchorLevelOutput, disposeLevelOutputs, isCompactLevelOutput } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DetectorConfig, parseDetectorConfig } from './config';
import { createDetector } from './create-detector';
import type { Detector } from './detector';
import { presets } from './presets';
import { SingleStageDetector } from './single-stage-detector';
import { trainOnSynthetic } from './testing/train-on-synthetic';

/** `config` with its guided scheme's inference fields replaced. */
function withInference(
  config: DetectorConfig,
  fields: { sparseInference: 'always' | 'never'; locationThreshold: number },
): DetectorConfig {
  if (config.kind !== 'single-stage') throw new Error('expected a single-stage preset');
  return parseDetectorConfig({
    ...config,
    head: { ...config.head, anchorScheme: { ...config.head.anchorScheme, ...fields } },
  });
}

/** A detector of `config` holding `trained`'s weights. */
function copyOf(trained: Detector, config: DetectorConfig): SingleStageDetector {
  const detector = createDetector(config);
  for (const { name, variable } of trained.parameters.entries()) {
    detector.parameters.get(name).assign(variable);
  }
  if (!(detector instanceof SingleStageDetector))
    throw new Error('expected a single-stage detector');
  return detector;
}

/** The largest location probability of every level over the batch (dense forward). */
function levelMaxima(detector: SingleStageDetector, images: tf.Tensor4D): number[] {
  const features = detector.backbone.apply(images, { training: false });
  const outputs = detector.head.forward(features);
  const maxima = outputs.map((o) =>
    tf.tidy(() => tf.max(tf.sigmoid(o.extras!.locLogits!)).dataSync()[0]!),
  );
  disposeLevelOutputs(outputs);
  tf.dispose(features);
  return maxima;
}

/**
 * Head outputs of the sparse detector (compact rows) against the dense one's rows at the
 * evaluated locations; returns the kept count per level.
 */
function compareHeads(
  sparse: SingleStageDetector,
  dense: SingleStageDetector,
  images: tf.Tensor4D,
): number[] {
  const features = sparse.backbone.apply(images, { training: false });
  const a = sparse.head.infer(features);
  const b = dense.head.infer(features);
  const kept = a.map((level, index) => {
    const reference = b[index] as AnchorLevelOutput;
    if (!isCompactLevelOutput(level) || isCompactLevelOutput(reference)) {
      throw new Error(`level ${index}: expected a compact sparse and a dense output`);
    }
    const evaluated = reference.evaluated!.dataSync();
    const rows: number[] = [];
    evaluated.forEach((v, row) => {
      if (v) rows.push(row);
    });
    expect(level.rowsPerImage).toHaveLength(images.shape[0]);
    expect(level.rowsPerImage.reduce((n, r) => n + r, 0)).toBe(rows.length);
    for (const field of ['clsScores', 'boxDeltas', 'priors'] as const) {
      const denseRows = tf.tidy(() =>
        rows.length === 0
          ? tf.zeros([0, reference[field].shape[2] as number])
          : tf.gather(
              tf.reshape(reference[field], [evaluated.length, -1]),
              tf.tensor1d(rows, 'int32'),
            ),
      );
      expect(level[field].shape).toEqual(denseRows.shape);
      expectClose(level[field].dataSync(), denseRows.dataSync(), {
        atol: 1e-4,
        rtol: 1e-4,
        label: `level ${index} ${field}`,
      });
      denseRows.dispose();
    }
    return rows.length;
  });
  disposeLevelOutputs(a);
  disposeLevelOutputs(b);
  tf.dispose(features);
  return kept;
}

describe('sparse Guided Anchoring inference equals dense inference (trained tiny models)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const [name, preset] of [
    ['GA-RPN', presets.tinyGaRpn()],
    ['GA-RetinaNet', presets.tinyGaRetinaNet()],
  ] as const) {
    it(`${name}: scores, boxes and detections after NMS, batch 1 and 4, εL = 0, 0.01 and one that empties a level`, async () => {
      const trained = await trainOnSynthetic({ config: preset, steps: 16 });
      const [first] = await (async () => {
        const batches = [];
        for await (const batch of trained.evalBatches()) batches.push(batch);
        return batches;
      })();
      // Batch 4: the two training images, then both mirrored.
      const images = tf.tidy(() =>
        tf.concat([first!.images, tf.reverse(first!.images, 2)]),
      ) as tf.Tensor4D;
      const firstShapes = first!.metas.map((m) => [m.height, m.width] as const);
      const shapes = [...firstShapes, ...firstShapes];
      tf.dispose([first!.images, ...first!.gtBoxes, ...first!.gtLabels, ...first!.gtIgnoreBoxes]);
      const single = tf.slice(images, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;

      const probe = copyOf(trained.detector, trained.detector.config);
      const maxima = levelMaxima(probe, images);
      probe.dispose();
      // εL between the smallest and the largest level maximum: some level keeps nothing.
      const low = Math.min(...maxima);
      const high = Math.max(...maxima);
      expect(high - low, `level maxima ${maxima}`).toBeGreaterThan(1e-3);
      const emptying = (low + high) / 2;

      for (const threshold of [0, 0.01, emptying]) {
        const sparse = copyOf(
          trained.detector,
          withInference(preset, { sparseInference: 'always', locationThreshold: threshold }),
        );
        const dense = copyOf(
          trained.detector,
          withInference(preset, { sparseInference: 'never', locationThreshold: threshold }),
        );
        for (const [batch, input, imageShapes] of [
          [1, single, shapes.slice(0, 1)],
          [4, images, shapes],
        ] as const) {
          const before = tf.memory().numTensors;
          const kept = compareHeads(sparse, dense, input);
          const cells = sparse.head.strides.map(
            (s) => batch * Math.ceil(input.shape[1] / s) * Math.ceil(input.shape[2] / s),
          );
          if (threshold === 0) expect(kept).toEqual(cells);
          if (threshold === emptying && batch === 4) {
            expect(
              kept.some((k) => k === 0),
              `kept ${kept}`,
            ).toBe(true);
            expect(
              kept.some((k) => k > 0),
              `kept ${kept}`,
            ).toBe(true);
          }
          const a = sparse.predict(input, imageShapes);
          const b = dense.predict(input, imageShapes);
          expect(tf.memory().numTensors, `leaked tensors at εL ${threshold}`).toBe(before);
          expect(a.map((d) => d.scores.length)).toEqual(b.map((d) => d.scores.length));
          a.forEach((d, image) => {
            const label = `${name} εL ${threshold} batch ${batch} image ${image}`;
            expect(Array.from(d.labels), label).toEqual(Array.from(b[image]!.labels));
            expectClose(d.scores, b[image]!.scores, { atol: 1e-5, rtol: 1e-4, label });
            expectClose(d.boxes, b[image]!.boxes, { atol: 1e-3, rtol: 1e-4, label });
          });
          if (threshold !== emptying) {
            expect(
              a.some((d) => d.scores.length > 0),
              `${name} εL ${threshold}`,
            ).toBe(true);
          }
        }
        sparse.dispose();
        dense.dispose();
      }
      tf.dispose([images, single]);
      trained.detector.dispose();
    }, 300_000);
  }
});
