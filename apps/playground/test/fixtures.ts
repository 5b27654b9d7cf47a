import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CocoResult } from '@det/coco-eval';
import { initBackend } from '@det/core';
import {
  type CocoDataset,
  DetectionDataLoader,
  disposeBatch,
  generateSyntheticDataset,
  loadCocoDataset,
  normalize,
} from '@det/data';
import {
  createDetector,
  type DetectorConfig,
  exportDetector,
  predictDataset,
  presets,
  toDetectorBatch,
} from '@det/detectors';
import { trainerFor } from '@det/train';

export interface PlaygroundFixture {
  /** model.safetensors + model.json of each exported model. */
  models: Record<'meta' | 'guided', { tensors: string; json: string }>;
  /** What the detector's predict in Node gives on val image 1 (the page's first sample). */
  reference: Record<'meta' | 'guided', CocoResult[]>;
  categoryIds: number[];
}

/**
 * The e2e's models: a MetaAnchor RetinaNet and a GA-RetinaNet (the tiny presets), trained a few
 * steps on two synthetic 320 px images of det's embedded dataset (seed 0; its val image 1 is the
 * page's first sample, bit for bit), exported the way `det export` does, and their detections on
 * that val image by `predictDataset` — `det predict`'s path (normalize, no resize) — in Node.
 * Every score is kept (`test.scoreThreshold` 0): a few steps leave scores near the 0.01 prior.
 */
export async function buildFixture(folder: string, steps = 2): Promise<PlaygroundFixture> {
  await initBackend({ backend: 'wasm' });
  const paths = await generateSyntheticDataset({
    outDir: join(folder, 'data'),
    seed: 0,
    trainImages: 2,
    valImages: 1,
    width: 320,
    height: 320,
  });
  const train = await loadCocoDataset(paths.train);
  const val = await loadCocoDataset(paths.val);
  const labels = { classNames: train.classNames, categoryIds: train.categoryIds };
  const configs: Record<'meta' | 'guided', DetectorConfig> = {
    meta: presets.metaRetinanetTiny(train.classNames.length),
    guided: presets.tinyGaRetinaNet(train.classNames.length),
  };
  const fixture: PlaygroundFixture = {
    models: {} as PlaygroundFixture['models'],
    reference: {} as PlaygroundFixture['reference'],
    categoryIds: train.categoryIds,
  };
  for (const [name, preset] of Object.entries(configs) as ['meta' | 'guided', DetectorConfig][]) {
    if (preset.kind !== 'single-stage' || !preset.test)
      throw new Error(`${name}: retina preset expected`);
    const detector = createDetector({ ...preset, test: { ...preset.test, scoreThreshold: 0 } });
    try {
      await trainSteps(detector, train, steps);
      const { tensors, info } = await exportDetector(detector, labels, { iteration: steps });
      const out = join(folder, name);
      await mkdir(out, { recursive: true });
      const files = { tensors: join(out, 'model.safetensors'), json: join(out, 'model.json') };
      await writeFile(files.tensors, tensors);
      await writeFile(files.json, JSON.stringify(info, null, 2));
      fixture.models[name] = files;
      const loader = new DetectionDataLoader({
        records: val.records,
        batchSize: 1,
        transforms: [normalize()],
        shuffle: false,
      });
      fixture.reference[name] = await predictDataset(detector, loader.batches(), {
        categoryIds: train.categoryIds,
      });
    } finally {
      detector.dispose();
    }
  }
  return fixture;
}

async function trainSteps(
  detector: ReturnType<typeof createDetector>,
  train: CocoDataset,
  steps: number,
): Promise<void> {
  const trainer = trainerFor(detector, { ...detector.config.train, warmupIters: 0 });
  const loader = new DetectionDataLoader({
    records: train.records,
    batchSize: 2,
    transforms: [normalize()],
  });
  let done = 0;
  try {
    for await (const batch of loader.batches({ epochs: steps })) {
      trainer.step(toDetectorBatch(batch));
      disposeBatch(batch);
      done += 1;
      if (done >= steps) break;
    }
  } finally {
    trainer.dispose();
  }
}
