import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { DetectionDataLoader, normalize } from '@det/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { toDetectorBatch } from './batch';
import { type DetectorConfig, presets } from './config';
import { createDetector } from './create-detector';
import { evaluateCoco, predictDataset } from './evaluate';
import { proposalsForBatch, readProposalsFile, writeProposalsFile } from './proposals-file';
import { smallSyntheticDataset } from './testing/synthetic-fixture';
import { Trainer } from './trainer';

interface GroundTruth {
  annotations: { image_id: number; bbox: [number, number, number, number] }[];
}

/** Seeded proposals around each GT box (as a good external proposal method would give). */
function jitteredProposals(groundTruth: GroundTruth, perBox: number, seed: number) {
  let state = seed >>> 0;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return groundTruth.annotations.flatMap((annotation) =>
    Array.from({ length: perBox }, () => {
      const [x, y, w, h] = annotation.bbox;
      const jitter = (scale: number) => (random() - 0.5) * 0.4 * scale;
      return {
        image_id: annotation.image_id,
        bbox: [x + jitter(w), y + jitter(h), w * (1 + jitter(1)), h * (1 + jitter(1))],
        score: random(),
      };
    }),
  );
}

async function train(
  config: DetectorConfig,
  steps: number,
  proposalsFile?: string,
): Promise<{
  stats: number[];
  detector: ReturnType<typeof createDetector>;
  categoryIds: readonly number[];
}> {
  const { dataset, groundTruthJson } = await smallSyntheticDataset({
    images: 2,
    size: 128,
    maxObjectsPerImage: 2,
  });
  const proposals = proposalsFile ? readProposalsFile(proposalsFile) : undefined;
  const detector = createDetector({
    ...config,
    train: { ...config.train, warmupIters: 20, maxIters: steps, steps: [Math.floor(steps * 0.8)] },
  } as DetectorConfig);
  const trainer = new Trainer({ detector });
  const loader = new DetectionDataLoader({
    records: dataset.records,
    batchSize: 2,
    transforms: [normalize()],
    seed: 0,
  });
  for await (const batch of loader.batches({ epochs: steps })) {
    try {
      const step = trainer.step(
        toDetectorBatch(batch, proposals ? proposalsForBatch(proposals, batch.metas) : undefined),
      );
      expect(step.finite).toBe(true);
    } finally {
      tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
    }
  }
  trainer.dispose();
  const evalLoader = new DetectionDataLoader({
    records: dataset.records,
    batchSize: 2,
    transforms: [normalize()],
    shuffle: false,
  });
  const results = await predictDataset(detector, evalLoader.batches(), {
    categoryIds: config.kind === 'rpn' ? [1] : dataset.categoryIds,
    ...(proposals
      ? { proposalsOf: (imageId: number) => proposals.get(imageId) ?? new Float32Array(0) }
      : {}),
  });
  const stats = evaluateCoco(groundTruthJson, results, { proposals: config.kind === 'rpn' }).stats;
  return { stats, detector, categoryIds: dataset.categoryIds };
}

describe('two-stage detectors end to end on synthetic images', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('Fast R-CNN trains on a precomputed proposals file and reaches AP50 ≥ 0.8', async () => {
    const { groundTruthJson } = await smallSyntheticDataset({
      images: 2,
      size: 128,
      maxObjectsPerImage: 2,
    });
    const file = join(mkdtempSync(join(tmpdir(), 'det-fast-rcnn-')), 'proposals.json');
    writeProposalsFile(file, jitteredProposals(groundTruthJson as GroundTruth, 24, 7));
    const { stats, detector } = await train(presets.tinyFastRcnn(5), 100, file);
    detector.dispose();
    expect(stats[1]).toBeGreaterThanOrEqual(0.8);
  }, 600_000);

  it('RPN proposals reach AR@1000 ≥ 0.5 (useCats 0, maxDets 100/300/1000)', async () => {
    const { stats, detector } = await train(presets.tinyRpn(), 120);
    detector.dispose();
    // Proposal mode: stats[6..8] are AR@100, AR@300, AR@1000.
    expect(stats[8]).toBeGreaterThanOrEqual(0.5);
    expect(stats[8]!).toBeGreaterThanOrEqual(stats[6]!);
  }, 600_000);
});
