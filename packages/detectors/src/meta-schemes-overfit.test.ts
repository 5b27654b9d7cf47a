import { initBackend } from '@det/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DetectorConfig } from './config';
import { evaluateCoco, predictDataset } from './evaluate';
import { presets } from './presets';
import { trainOnSynthetic } from './testing/train-on-synthetic';

const log = (...args: unknown[]) => {
  if (process.env.DET_TEST_LOG) console.log(...args);
};

/**
 * Overfits two 128 px synthetic images (as overfit.test.ts) and returns COCO stats on them:
 * detection mode, or proposal mode (maxDets 100 / 300 / 1000, class-agnostic).
 */
async function overfitStats(
  config: DetectorConfig,
  steps: number,
  proposals: boolean,
): Promise<number[]> {
  const start = performance.now();
  const trained = await trainOnSynthetic({ config, steps });
  log(`${steps} steps in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  try {
    expect(trained.allFinite).toBe(true);
    const results = await predictDataset(trained.detector, trained.evalBatches(), {
      categoryIds: proposals ? [1] : trained.dataset.categoryIds,
    });
    return evaluateCoco(trained.groundTruthJson, results, { proposals }).stats;
  } finally {
    trained.detector.dispose();
  }
}

describe('the new scheme × head combinations overfit a handful of synthetic images', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a tiny meta-guided RetinaNet reaches AP50 ≥ 0.8', async () => {
    const stats = await overfitStats(
      presets.tinyMetaGuidedRetinaNet(5),
      Number(process.env.DET_META_GUIDED_STEPS ?? 100),
      false,
    );
    log('meta-guided RetinaNet AP / AP50', stats[0], stats[1]);
    expect(stats[1]).toBeGreaterThanOrEqual(0.8);
  }, 900_000);

  it('a tiny Meta-RPN reaches AR@100 ≥ 0.8 (proposal mode)', async () => {
    const stats = await overfitStats(
      presets.tinyMetaRpn(),
      Number(process.env.DET_META_RPN_STEPS ?? 150),
      true,
    );
    // Proposal mode: stats[6..8] are AR@100, AR@300, AR@1000.
    log('Meta-RPN AR@100/300/1000', stats[6], stats[7], stats[8]);
    expect(stats[6]).toBeGreaterThanOrEqual(0.8);
  }, 900_000);
});
