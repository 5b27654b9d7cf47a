import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { trainerFor } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DetectorConfig, parseDetectorConfig } from './config';
import { createDetector } from './create-detector';
import type { DetectorBatch } from './detector';
import { writeGuidedAnchoringDiagnostics } from './guided-anchoring-diagnostics';
import { presets } from './presets';
import { withCompositionTest } from './testing/composition-cases';

function withLocationThreshold(config: DetectorConfig, locationThreshold: number): DetectorConfig {
  if (config.kind !== 'single-stage' || config.head.anchorScheme.type !== 'guided') {
    throw new Error('expected a single-stage guided config');
  }
  return parseDetectorConfig({
    ...config,
    head: { ...config.head, anchorScheme: { ...config.head.anchorScheme, locationThreshold } },
  });
}

/** Two 64 px images: the first with two boxes, the second without any ground truth. */
function batchWithAnEmptyImage(): DetectorBatch {
  return {
    images: tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 7) as tf.Tensor4D,
    gtBoxes: [
      tf.tensor2d([
        [4, 8, 36, 30],
        [30, 20, 44, 60],
      ]),
      tf.zeros([0, 4]) as tf.Tensor2D,
    ],
    gtLabels: [tf.tensor1d([1, 3], 'int32'), tf.zeros([0], 'int32') as tf.Tensor1D],
    imageShapes: [
      [64, 64],
      [60, 64],
    ],
  };
}

function disposeBatch(batch: DetectorBatch): void {
  tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels]);
}

describe('GA detectors: configs, empty images, batch-2 predict, diagnostics', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('configs carry mmdetection GA defaults', () => {
    const rpn = presets.gaRpnR50Fpn1x();
    const retina = presets.gaRetinanetR50Fpn1x();
    const faster = presets.gaFasterRcnnR50Fpn1x();
    if (
      rpn.kind !== 'single-stage' ||
      retina.kind !== 'single-stage' ||
      faster.kind !== 'two-stage' ||
      rpn.head.anchorScheme.type !== 'guided' ||
      retina.head.anchorScheme.type !== 'guided' ||
      faster.proposals.type !== 'rpn'
    )
      throw new Error('unexpected presets');
    // A scheme brings its coder and assigner: GA-RPN's bbox stds and smooth L1 β 1.
    expect(rpn.head.targetStds).toEqual([0.07, 0.07, 0.11, 0.11]);
    expect(rpn.head.regression).toEqual({ loss: 'smooth-l1', beta: 1 });
    expect(rpn.head.anchorScheme.squareScale).toBe(8);
    expect(rpn.head.anchorScheme.locationThreshold).toBe(0.01);
    expect(retina.head.anchorScheme.squareScale).toBe(4);
    expect(retina.head.anchorScheme.anchorDeltaStd).toBe(1);
    expect(retina.head.assigner).toEqual({
      posIouThreshold: 0.5,
      negIouThreshold: 0.5,
      minPosIou: 0,
      ignoreIofThreshold: 0.5,
    });
    expect(retina.head.regression).toEqual({ loss: 'smooth-l1', beta: 0.04 });
    expect(faster.proposals.testProposals.maxPerImage).toBe(300);
    expect(faster.roi.assigner.posIouThreshold).toBe(0.6);
    expect(() =>
      parseDetectorConfig(
        {
          kind: 'single-stage',
          head: { type: 'rpn', anchorScheme: { type: 'guided', squareScale: -1 } },
        },
        'ga.json',
      ),
    ).toThrow(/ga\.json: invalid detector config\n {2}head\.anchorScheme\.squareScale/);
  });

  for (const [name, config] of [
    ['GA-RPN', presets.tinyGaRpn()],
    ['GA-RetinaNet', presets.tinyGaRetinaNet(5)],
    ['GA-Faster R-CNN', presets.tinyGaFasterRcnn(5)],
  ] as const) {
    it(`${name}: a batch with an image without GT trains, batch-2 predict works, no leaks`, () => {
      // No score floor, 8 boxes per image: after three steps every image still has candidates.
      const detector = createDetector(withCompositionTest(config));
      const trainer = trainerFor(detector, detector.config.train);
      const batch = batchWithAnEmptyImage();
      const first = trainer.step(batch);
      expect(first.finite).toBe(true);
      const lossNames = Object.keys(first.losses);
      expect(lossNames).toEqual(expect.arrayContaining(['loss_loc', 'loss_shape']));
      const before = tf.memory().numTensors;
      expect(trainer.step(batch).finite).toBe(true);
      // Only-empty batch: no positives anywhere.
      const empty = {
        ...batch,
        gtBoxes: [batch.gtBoxes[1]!, batch.gtBoxes[1]!],
        gtLabels: [batch.gtLabels[1]!, batch.gtLabels[1]!],
      };
      expect(trainer.step(empty).finite).toBe(true);
      const detections = detector.predict(batch.images, batch.imageShapes);
      expect(detections).toHaveLength(2);
      for (const [image, d] of detections.entries()) {
        const [h, w] = batch.imageShapes[image]!;
        expect(d.scores.length, `image ${image} detections`).toBe(8);
        expect(d.boxes.length).toBe(d.scores.length * 4);
        for (let i = 0; i < d.scores.length; i++) {
          const [x1, y1, x2, y2] = Array.from(d.boxes.slice(i * 4, i * 4 + 4));
          expect(x1!).toBeGreaterThanOrEqual(0);
          expect(y1!).toBeGreaterThanOrEqual(0);
          expect(x2!).toBeGreaterThanOrEqual(x1!);
          expect(y2!).toBeGreaterThanOrEqual(y1!);
          expect(x2!).toBeLessThanOrEqual(w);
          expect(y2!).toBeLessThanOrEqual(h);
          expect(d.scores[i]!).toBeGreaterThanOrEqual(0);
          expect(d.scores[i]!).toBeLessThanOrEqual(1);
        }
      }
      expect(tf.memory().numTensors).toBe(before);
      disposeBatch(batch);
      trainer.dispose();
      detector.dispose();
    }, 120_000);
  }

  it('writeGuidedAnchoringDiagnostics writes heat maps per image and level, and histograms', async () => {
    const detector = createDetector(presets.tinyGaRetinaNet(5));
    const batch = batchWithAnEmptyImage();
    const outDir = await mkdtemp(join(tmpdir(), 'det-ga-diag-'));
    const before = tf.memory().numTensors;
    const written = await writeGuidedAnchoringDiagnostics(detector, batch, outDir);
    expect(tf.memory().numTensors).toBe(before);
    expect(written.heatmaps).toHaveLength(2);
    expect(written.heatmaps[1]).toEqual(
      [0, 1, 2, 3, 4].map((level) => join(outDir, `image1-location-p${level}.png`)),
    );
    for (const path of [...written.heatmaps.flat(), ...written.histograms]) {
      expect(existsSync(path)).toBe(true);
    }
    // Tiny GA-RetinaNet at 64 px: P3–P7 have 8², 4², 2², 1², 1² locations, 86 per image.
    const locations = 2 * (64 + 16 + 4 + 1 + 1);
    // At init p ≈ 0.01 (the prior bias) sits at εL = 0.01: which locations pass is rounding,
    // but some do and some do not (30 of 172 in one run; the count varies between runs).
    expect(written.anchorCount).toBeGreaterThan(0);
    expect(written.anchorCount).toBeLessThan(locations);
    const text = await readFile(written.histograms.find((p) => p.endsWith('.txt'))!, 'utf8');
    // Each histogram (log2 scale, log2 aspect ratio) counts the batch's two GT boxes (image 1
    // has none) and every kept anchor once.
    const sections = text.split('#').filter((section) => section.trim().length > 0);
    expect(sections).toHaveLength(2);
    for (const section of sections) {
      const rows = section
        .trim()
        .split('\n')
        .slice(2)
        .map((line) => line.split('\t').map(Number));
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.reduce((sum, row) => sum + row[1]!, 0)).toBe(2);
      expect(rows.reduce((sum, row) => sum + row[2]!, 0)).toBe(written.anchorCount);
    }
    // εL = 0 keeps every location: the histograms count all of them.
    const everyLocation = createDetector(withLocationThreshold(presets.tinyGaRetinaNet(5), 0));
    const all = await writeGuidedAnchoringDiagnostics(everyLocation, batch, outDir);
    expect(all.anchorCount).toBe(locations);
    everyLocation.dispose();
    // GA Table 4's S only: no location branch, no heat maps, every location's anchor counted.
    const base = presets.tinyGaRetinaNet(5);
    if (base.kind !== 'single-stage' || base.head.anchorScheme.type !== 'guided') {
      throw new Error('kind');
    }
    const shapeOnly = createDetector({
      ...base,
      head: {
        ...base.head,
        anchorScheme: {
          ...base.head.anchorScheme,
          components: { location: false, featureAdaption: false },
        },
      },
    });
    const unmasked = await writeGuidedAnchoringDiagnostics(shapeOnly, batch, outDir);
    expect(unmasked.heatmaps).toEqual([]);
    expect(unmasked.anchorCount).toBe(locations);
    shapeOnly.dispose();
    const rpn = createDetector(presets.tinyRpn());
    await expect(writeGuidedAnchoringDiagnostics(rpn, batch, outDir)).rejects.toThrow(
      /the single-stage detector has no Guided Anchoring head/,
    );
    rpn.dispose();
    disposeBatch(batch);
    detector.dispose();
  }, 120_000);
});
