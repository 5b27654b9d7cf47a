import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DetectorConfig } from './config';
import type { createDetector } from './create-detector';
import { evaluateCoco, predictDataset } from './evaluate';
import { presets } from './presets';
import { proposalsForBatch, readProposalsFile, writeProposalsFile } from './proposals-file';
import { smallSyntheticDataset } from './testing/synthetic-fixture';
import { trainOnSynthetic } from './testing/train-on-synthetic';

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
  const proposals = proposalsFile ? readProposalsFile(proposalsFile) : undefined;
  const trained = await trainOnSynthetic({
    config,
    steps,
    ...(proposals ? { proposalsFor: (batch) => proposalsForBatch(proposals, batch.metas) } : {}),
  });
  expect(trained.allFinite).toBe(true);
  const { dataset, groundTruthJson, detector } = trained;
  const proposalMode = config.kind === 'single-stage' && config.head.type === 'rpn';
  const results = await predictDataset(detector, trained.evalBatches(), {
    categoryIds: proposalMode ? [1] : dataset.categoryIds,
    ...(proposals
      ? { proposalsOf: (imageId: number) => proposals.get(imageId) ?? new Float32Array(0) }
      : {}),
  });
  const stats = evaluateCoco(groundTruthJson, results, { proposals: proposalMode }).stats;
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

  it('RPN proposals reach AR@100 ≥ 0.6 and AR@1000 ≥ 0.5 (useCats 0, maxDets 100/300/1000)', async () => {
    const { stats, detector } = await train(presets.tinyRpn(), 120);
    detector.dispose();
    // Proposal mode: stats[6..8] are AR@100, AR@300, AR@1000. Measured after 120 steps:
    // 0.75 at all three (two images with at most two objects each: the first 100 proposals
    // already hold every box the RPN finds). The floors leave room for a different backend's
    // rounding; a ranking bug (good boxes below the top 100) fails the AR@100 one.
    expect(stats[6]).toBeGreaterThanOrEqual(0.6);
    expect(stats[8]).toBeGreaterThanOrEqual(0.5);
  }, 600_000);
});
