// Guided Anchoring's Table 5 on the CPU: anchors per image and head time at εL = 0, 0.01,
// 0.05, 0.1 on a tiny GA-RPN trained as in the overfit test (2 synthetic images, 150 steps),
// with masked (sparse) and dense cls/reg convs.
// Usage: node bench/ga-location-threshold.mjs [--steps 150] [--runs 5] [--images 2]
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '@det/core';
import {
  DetectionDataLoader,
  generateSyntheticDataset,
  loadCocoDataset,
  normalize,
} from '@det/data';
import { trainerFor } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import { createDetector, presets, toDetectorBatch } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '150' },
    runs: { type: 'string', default: '5' },
    images: { type: 'string', default: '2' },
  },
});
const backend = await initBackend();
const outDir = await mkdtemp(join(tmpdir(), 'det-ga-bench-'));
const paths = await generateSyntheticDataset({
  outDir,
  seed: 1,
  trainImages: Number(values.images),
  valImages: 1,
  width: 128,
  height: 128,
  minObjectScale: 16,
  maxObjectsPerImage: 2,
  emptyImageProbability: 0,
  crowdImageProbability: 0,
});
const dataset = await loadCocoDataset({
  annotationFile: paths.train.annotationFile,
  imageRoot: paths.train.imageRoot,
});
const detector = createDetector(presets.tinyGaRpn());
const trainer = trainerFor(detector, detector.config.train);
const loader = new DetectionDataLoader({
  records: dataset.records,
  batchSize: 2,
  transforms: [normalize()],
  seed: 0,
});
let step = 0;
for await (const batch of loader.batches({ epochs: 1000 })) {
  try {
    trainer.step(toDetectorBatch(batch));
  } finally {
    tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
  }
  if (++step >= Number(values.steps)) break;
}
trainer.dispose();

const evalLoader = new DetectionDataLoader({
  records: dataset.records.slice(0, 4),
  batchSize: 4,
  transforms: [normalize()],
  shuffle: false,
});
let images;
for await (const batch of evalLoader.batches()) {
  images = batch.images;
  tf.dispose([...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
}
const options = detector.head.anchorFunction.options;
const features = detector.backbone.apply(images, { training: false });
const locations = features.reduce((sum, f) => sum + f.shape[1] * f.shape[2], 0);
const rows = [];
for (const sparse of [true, false]) {
  for (const threshold of [0, 0.01, 0.05, 0.1]) {
    options.locationThreshold = threshold;
    options.sparseInference = sparse;
    const run = () => {
      const outputs = tf.tidy(() => detector.head.forward(features));
      let kept = 0;
      for (const output of outputs) {
        kept += output.evaluated
          ? tf.tidy(() => tf.sum(tf.cast(output.evaluated, 'float32')).dataSync()[0])
          : output.clsScores.shape[1] * images.shape[0];
      }
      tf.dispose(outputs.flatMap((o) => Object.values(o).filter((t) => t instanceof tf.Tensor)));
      return kept;
    };
    run();
    const times = [];
    let kept = 0;
    for (let i = 0; i < Number(values.runs); i++) {
      const start = performance.now();
      kept = run();
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    rows.push({
      'cls/reg convs': sparse ? 'masked' : 'dense',
      εL: threshold,
      'anchors / image': Math.round(kept / images.shape[0]),
      'of locations': `${((100 * kept) / (locations * images.shape[0])).toFixed(1)} %`,
      'head ms (batch)': times[Math.floor(times.length / 2)].toFixed(1),
    });
  }
}
console.log(
  `tiny GA-RPN after ${values.steps} steps, ${backend.name}, ${images.shape[0]} images of 128×128, ${locations} locations per image (P2–P6)`,
);
console.table(rows);
tf.dispose([images, ...features]);
detector.dispose();
