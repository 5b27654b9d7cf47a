import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeCheckpoint, readCheckpoint } from './checkpoint';
import type { DetectorConfig } from './config';
import { createDetector } from './create-detector';
import type { Detector, DetectorBatch } from './detector';
import { presets } from './presets';
import { learningRateAt, scaledLearningRate } from './schedule';
import { Trainer } from './trainer';

const size = 64;

function tinyConfig(): DetectorConfig {
  const config = presets.tinyRetinaNet(3);
  return { ...config, train: { ...config.train, warmupIters: 2, steps: [4] } } as DetectorConfig;
}

/** Two images: one with two objects, one with none (images without GT must train). */
function makeBatch(): DetectorBatch {
  return {
    images: tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 7) as tf.Tensor4D,
    gtBoxes: [
      tf.tensor2d([
        [4, 8, 40, 30],
        [30, 20, 60, 60],
      ]),
      tf.zeros([0, 4]) as tf.Tensor2D,
    ],
    gtLabels: [tf.tensor1d([0, 2], 'int32'), tf.zeros([0], 'int32') as tf.Tensor1D],
    imageShapes: [
      [size, size],
      [size, size],
    ],
  };
}

function disposeBatch(batch: DetectorBatch): void {
  tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels]);
}

describe('Trainer', () => {
  let batch: DetectorBatch;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    batch = makeBatch();
  });
  afterAll(() => disposeBatch(batch));

  it('trains 50 steps with an image without ground truth and leaks no tensor', () => {
    const detector = createDetector(tinyConfig());
    const trainer = new Trainer({ detector });
    const first = trainer.step(batch);
    expect(first.finite).toBe(true);
    expect(Object.keys(first.losses).sort()).toEqual(['loss', 'loss_bbox', 'loss_cls']);
    const after = tf.memory().numTensors;
    let last = first;
    for (let i = 1; i < 50; i++) last = trainer.step(batch);
    expect(tf.memory().numTensors).toBe(after);
    expect(trainer.iteration).toBe(50);
    expect(last.losses.loss).toBeLessThan(first.losses.loss!);
    trainer.dispose();
    detector.dispose();
  });

  it('resumes from a checkpoint with the same loss as an uninterrupted run', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'det-ckpt-')), 'model.safetensors');
    const detector = createDetector(tinyConfig());
    const trainer = new Trainer({ detector });
    for (let i = 0; i < 3; i++) trainer.step(batch);
    await trainer.save(path, { epoch: 0, index: 3 });
    const continued = [trainer.step(batch), trainer.step(batch)];

    const checkpoint = await readCheckpoint(path);
    const resumedDetector = createDetector(checkpoint.config);
    const resumed = new Trainer({ detector: resumedDetector });
    expect(resumed.restore(checkpoint)).toEqual({ epoch: 0, index: 3 });
    disposeCheckpoint(checkpoint);
    expect(resumed.iteration).toBe(3);
    const again = [resumed.step(batch), resumed.step(batch)];
    for (let i = 0; i < 2; i++) {
      expect(again[i]!.learningRate).toBe(continued[i]!.learningRate);
      expect(again[i]!.losses.loss).toBeCloseTo(continued[i]!.losses.loss!, 5);
    }
    for (const t of [trainer, resumed]) t.dispose();
    detector.dispose();
    resumedDetector.dispose();
  });

  it('stops on a non-finite loss without touching the parameters', () => {
    const detector = createDetector(tinyConfig());
    // A detector whose classification loss turns NaN (as a diverging run's would).
    const diverging: Detector = {
      config: detector.config,
      parameters: detector.parameters,
      losses: (b) => {
        const losses = detector.losses(b);
        const bad = tf.mul(losses.loss_cls!, Number.NaN) as tf.Scalar;
        losses.loss_cls!.dispose();
        return { ...losses, loss_cls: bad };
      },
      predict: (images, shapes) => detector.predict(images, shapes),
      dispose: () => detector.dispose(),
    };
    const trainer = new Trainer({ detector: diverging });
    const before = detector.parameters.entries().map((entry) => entry.variable.dataSync().slice());
    const result = trainer.step(batch);
    expect(result.finite).toBe(false);
    expect(Number.isNaN(result.losses.loss_cls)).toBe(true);
    expect(trainer.iteration).toBe(0);
    detector.parameters.entries().forEach((entry, i) => {
      expect(Array.from(entry.variable.dataSync())).toEqual(Array.from(before[i]!));
    });
    trainer.dispose();
    detector.dispose();
  });
});

describe('learning-rate schedule', () => {
  it('scales with batch size, warms up linearly from warmupRatio and steps by gamma', () => {
    const config = presets.retinanetR50Fpn1x().train;
    // mmdetection 1×: 0.01 at 16 images, here 2 images per step.
    expect(scaledLearningRate(config)).toBeCloseTo((0.01 * 2) / 16, 12);
    const lr = scaledLearningRate(config);
    expect(learningRateAt(config, 0)).toBeCloseTo(lr * config.warmupRatio, 12);
    expect(learningRateAt(config, config.warmupIters / 2)).toBeCloseTo(
      lr * (1 - 0.5 * (1 - config.warmupRatio)),
      12,
    );
    expect(learningRateAt(config, config.warmupIters)).toBe(lr);
    expect(learningRateAt(config, config.steps[0]!)).toBeCloseTo(lr * 0.1, 12);
    expect(learningRateAt(config, config.steps[1]!)).toBeCloseTo(lr * 0.01, 12);
  });
});
