import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { type CocoDataset, generateSyntheticDataset, loadCocoDataset } from '@det/data';
import { createDetector, type Detector, parseDetectorConfig, presets } from '@det/detectors';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeHeadPaths } from './evaluation';

/** tinyGaRpn with its Guided Anchoring inference path forced. */
function gaRpn(sparseInference: 'always' | 'never'): Detector {
  const config = presets.tinyGaRpn() as unknown as { head: { anchorScheme: object } };
  return createDetector(
    parseDetectorConfig({
      ...config,
      head: { ...config.head, anchorScheme: { ...config.head.anchorScheme, sparseInference } },
    }),
  );
}

describe('timeHeadPaths (det eval --time-head)', () => {
  let root: string;
  let dataset: CocoDataset;
  let masked: Detector;
  let dense: Detector;

  beforeAll(async () => {
    await initBackend({ backend: 'wasm', wasmThreads: 1 });
    root = await mkdtemp(join(tmpdir(), 'det-head-time-'));
    const paths = await generateSyntheticDataset({
      outDir: root,
      trainImages: 1,
      valImages: 12,
      width: 64,
      height: 64,
    });
    dataset = await loadCocoDataset(paths.val);
    masked = gaRpn('always');
    dense = gaRpn('never');
  }, 60_000);

  afterAll(async () => {
    masked?.dispose();
    dense?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  it('times both paths per image on every batch after the first, leaking no tensor', async () => {
    const before = tf.memory().numTensors;
    // 12 images at batch 4: the first batch warms up, two are timed.
    const timing = await timeHeadPaths(masked, dense, { dataset }, { batches: 10, clock: 'cpu' });
    expect(tf.memory().numTensors).toBe(before);
    expect(timing).toMatchObject({ clock: 'cpu', batches: 2, images: 8 });
    for (const ms of [timing!.maskedMs, timing!.denseMs]) {
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThan(0);
    }
  }, 60_000);

  it('stops after `batches` timed batches, on the wall clock when asked', async () => {
    const timing = await timeHeadPaths(masked, dense, { dataset }, { batches: 1, clock: 'wall' });
    expect(timing).toMatchObject({ clock: 'wall', batches: 1, images: 4 });
  }, 60_000);

  it('an empty split, or one batch (only the warm-up), times nothing', async () => {
    const empty = { ...dataset, records: [] };
    expect(
      await timeHeadPaths(masked, dense, { dataset: empty }, { batches: 10, clock: 'cpu' }),
    ).toBeUndefined();
    const one = { ...dataset, records: dataset.records.slice(0, 4) };
    expect(
      await timeHeadPaths(masked, dense, { dataset: one }, { batches: 10, clock: 'cpu' }),
    ).toBeUndefined();
  }, 60_000);
});
