// Data-path benchmark: default dataset generation time, images/s through decode + transforms
// + batching at 320×320 and 1333×800, and whether prefetch hides loading behind a training
// step. Run with `pnpm --filter @det/data bench` (builds first through turbo) or
// `node bench/pipeline.mjs` after `pnpm build`. Single process; pin cores with taskset.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  DetectionDataLoader,
  disposeBatch,
  generateSyntheticDataset,
  loadCocoDataset,
  normalize,
  padToDivisor,
  randomHorizontalFlip,
  resize,
} from '../dist/index.js';

const backend = await initBackend();
const root = await mkdtemp(join(tmpdir(), 'det-data-bench-'));
const rows = [];

// 1. The embedded default (1000 train + 200 val at 320×320), into a fresh folder.
const started = performance.now();
const small = await generateSyntheticDataset({ outDir: join(root, 'default'), seed: 0 });
const generateSeconds = (performance.now() - started) / 1000;
rows.push({ case: 'generate default 1000+200 @320×320', value: `${generateSeconds.toFixed(1)} s` });

// Large images for the 1333×800 case.
const large = await generateSyntheticDataset({
  outDir: join(root, 'large'),
  seed: 0,
  trainImages: 48,
  valImages: 0,
  width: 1333,
  height: 800,
});

async function throughput(paths, scale, batchSize, batches, prefetch) {
  const dataset = await loadCocoDataset({
    annotationFile: paths.annotationFile,
    imageRoot: paths.imageRoot,
    checkImages: 'none',
  });
  const loader = new DetectionDataLoader({
    records: dataset.records,
    batchSize,
    prefetch,
    transforms: [resize(scale), randomHorizontalFlip(), normalize(), padToDivisor({ divisor: 32 })],
  });
  let images = 0;
  const begin = performance.now();
  for await (const batch of loader.batches({ epochs: 100 })) {
    images += batch.metas.length;
    disposeBatch(batch);
    if (images >= batches * batchSize) break;
  }
  return images / ((performance.now() - begin) / 1000);
}

for (const prefetch of [0, 2]) {
  const at320 = await throughput(small.train, { shortSide: 320, longSide: 320 }, 8, 40, prefetch);
  rows.push({
    case: `load 320×320, batch 8, prefetch ${prefetch}`,
    value: `${at320.toFixed(0)} img/s`,
  });
  const at1333 = await throughput(large.train, { shortSide: 800, longSide: 1333 }, 2, 24, prefetch);
  rows.push({
    case: `load 1333×800, batch 2, prefetch ${prefetch}`,
    value: `${at1333.toFixed(1)} img/s`,
  });
}

// 3. Prefetch behind a training step: a synchronous wasm conv step stands in for the model.
async function trainLoop(prefetch, steps) {
  const dataset = await loadCocoDataset({
    annotationFile: small.train.annotationFile,
    imageRoot: small.train.imageRoot,
    checkImages: 'none',
  });
  const loader = new DetectionDataLoader({
    records: dataset.records,
    batchSize: 8,
    prefetch,
    transforms: [resize({ shortSide: 320, longSide: 320 }), randomHorizontalFlip(), normalize()],
  });
  const filter = tf.randomNormal([3, 3, 3, 16]);
  const step = (images) =>
    tf.tidy(() => {
      let features = images;
      for (let layer = 0; layer < 6; layer++)
        features = tf.relu(
          tf.conv2d(features, filter.slice([0, 0, 0, 0], [3, 3, 3, 3]), 1, 'same'),
        );
      return tf.sum(tf.conv2d(features, filter, 1, 'same')).dataSync()[0];
    });
  let waited = 0;
  let stepped = 0;
  let count = 0;
  const begin = performance.now();
  const iterator = loader.batches({ epochs: 100 });
  while (count < steps) {
    const waitStart = performance.now();
    const { value: batch } = await iterator.next();
    waited += performance.now() - waitStart;
    const stepStart = performance.now();
    step(batch.images);
    stepped += performance.now() - stepStart;
    disposeBatch(batch);
    count++;
  }
  await iterator.return();
  filter.dispose();
  return { total: performance.now() - begin, waited, stepped };
}

for (const prefetch of [0, 2]) {
  const { total, waited, stepped } = await trainLoop(prefetch, 15);
  rows.push({
    case: `train loop (batch 8 @320, wasm conv step), prefetch ${prefetch}`,
    value: `${(total / 15).toFixed(0)} ms/step: step ${(stepped / 15).toFixed(0)} ms, waiting for data ${(waited / 15).toFixed(0)} ms`,
  });
}

console.log(
  `@det/data pipeline benchmark — backend ${backend.name} (${backend.device}), ${cpus().length} CPU(s) visible, node ${process.version}`,
);
console.table(rows);
await rm(root, { recursive: true, force: true });
