import { initBackend } from '@det/core';
import { type Trainer, trainerFor } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import type { DetectorConfig } from '../src/config';
import { createDetector } from '../src/create-detector';
import type { Detector, DetectorBatch } from '../src/detector';
import { presets } from '../src/presets';

/*
 * Training images/s = batch / step time; inference ms/image = predict time / batch.
 * PyTorch reference for the R-50 training step: bench/torch_retinanet_step.py (same threads).
 */
await initBackend({ backend: 'wasm' });

function batchOf(size: number, images: number): DetectorBatch {
  return {
    images: tf.randomNormal([images, size, size, 3], 0, 1, 'float32', 3) as tf.Tensor4D,
    gtBoxes: Array.from({ length: images }, () =>
      tf.tensor2d([
        [size * 0.1, size * 0.2, size * 0.5, size * 0.6],
        [size * 0.4, size * 0.1, size * 0.9, size * 0.5],
      ]),
    ),
    gtLabels: Array.from({ length: images }, () => tf.tensor1d([0, 1], 'int32')),
    imageShapes: Array.from({ length: images }, () => [size, size] as const),
  };
}

function setup(
  config: DetectorConfig,
  size: number,
  images: number,
): { detector: Detector; trainer: Trainer<DetectorBatch>; batch: DetectorBatch } {
  const detector = createDetector(config);
  return {
    detector,
    trainer: trainerFor(detector, detector.config.train),
    batch: batchOf(size, images),
  };
}

const cases: Array<[string, DetectorConfig, number]> = [
  ['tiny RetinaNet 320×320', presets.tinyRetinaNet(5), 320],
  ['RetinaNet R-50-FPN 512×512', presets.retinanetR50Fpn1x(80), 512],
];

for (const [name, config, size] of cases) {
  const { detector, trainer, batch } = setup(config, size, 2);
  describe(name, () => {
    bench(
      `train step, batch 2`,
      () => {
        trainer.step(batch);
      },
      { iterations: 2, time: 0, warmupIterations: 1 },
    );
    bench(
      `inference, batch 2`,
      () => {
        detector.predict(batch.images, batch.imageShapes);
      },
      { iterations: 2, time: 0, warmupIterations: 1 },
    );
  });
}
