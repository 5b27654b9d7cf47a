import { initBackend } from '@det/core';
import { it } from 'vitest';
import { presets } from './config';
import { evaluateCoco, predictDataset } from './evaluate';
import { trainOnSynthetic } from './testing/train-on-synthetic';

it('probe', async () => {
  await initBackend({ backend: 'wasm' });
  const v = JSON.parse(process.env.PROBE ?? '{}');
  const t0 = performance.now();
  const base = presets.metaRetinanetTiny(5, v.meta ?? {});
  const config = { ...base, train: { ...base.train, ...(v.train ?? {}) } } as typeof base;
  const trained = await trainOnSynthetic({ config, steps: v.steps ?? 150 });
  const results = await predictDataset(trained.detector, trained.evalBatches(), { categoryIds: trained.dataset.categoryIds });
  const stats = evaluateCoco(trained.groundTruthJson, results).stats;
  console.log(`PROBE ${process.env.PROBE} AP50 ${stats[1]} AP ${stats[0]} ${(performance.now() - t0) / 1000}s`);
}, 900_000);
