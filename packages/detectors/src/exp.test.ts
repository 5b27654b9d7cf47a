import { initBackend } from '@det/core';
import { DetectionDataLoader, normalize } from '@det/data';
import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import { presets } from './config';
import { createDetector } from './create-detector';
import { toDetectorBatch } from './batch';
import { Trainer } from './trainer';
import { evaluateCoco, predictDataset } from './evaluate';
import { smallSyntheticDataset } from './testing/synthetic-fixture';

it('exp', async () => {
  await initBackend({ backend: 'wasm' });
  const size = Number(process.env.SIZE ?? 160);
  const steps = Number(process.env.STEPS ?? 20);
  const { dataset, groundTruthJson } = await smallSyntheticDataset({ images: Number(process.env.IMAGES ?? 4), size, maxObjectsPerImage: Number(process.env.OBJ ?? 3) });
  const config = process.env.KIND === 'faster' ? presets.tinyFasterRcnn(5) : presets.tinyRetinaNet(5);
  const lr = Number(process.env.LR ?? 0.01);
  const detector = createDetector({ ...config, train: { ...config.train, baseLr: lr, warmupIters: 20, maxIters: steps, steps: [Math.floor(steps * 0.8)] } } as never);
  const trainer = new Trainer({ detector });
  const loader = new DetectionDataLoader({ records: dataset.records, batchSize: 2, transforms: [normalize()], seed: 0 });
  let t0 = performance.now();
  let done = 0;
  for await (const batch of loader.batches({ epochs: 1000 })) {
    const r = trainer.step(toDetectorBatch(batch));
    tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
    if (done % 10 === 0) console.log(done, JSON.stringify(r.losses), r.gradNorm.toFixed(2), ((performance.now() - t0) / (done + 1)).toFixed(0), 'ms/step', tf.memory().numTensors);
    if (++done >= steps) break;
  }
  console.log('train ms/step', ((performance.now() - t0) / steps).toFixed(0));
  t0 = performance.now();
  const evalLoader = new DetectionDataLoader({ records: dataset.records, batchSize: 2, transforms: [normalize()], shuffle: false });
  const results = await predictDataset(detector, evalLoader.batches(), { categoryIds: dataset.categoryIds });
  console.log('predict ms', (performance.now() - t0).toFixed(0), results.length);
  const { summary } = evaluateCoco(groundTruthJson, results);
  console.log(summary.lines.join('\n'));
}, 600_000);
