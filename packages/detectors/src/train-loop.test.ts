import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { DetectionDataLoader, normalize } from '@det/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposeCheckpoint, readCheckpoint } from './checkpoint';
import type { DetectorConfig } from './config';
import { createDetector } from './create-detector';
import type { Detector } from './detector';
import { presets } from './presets';
import { smallSyntheticDataset } from './testing/synthetic-fixture';
import { trainDetector } from './train-loop';

describe('trainDetector', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('stops cleanly on a non-finite loss and keeps the last good checkpoint', async () => {
    const { dataset } = await smallSyntheticDataset({ images: 2, size: 64, maxObjectsPerImage: 2 });
    const tensorsBefore = tf.memory().numTensors;
    const config = presets.tinyRetinaNet(5);
    const detector = createDetector({
      ...config,
      train: { ...config.train, warmupIters: 2, maxIters: 20, steps: [15] },
    } as DetectorConfig);
    let calls = 0;
    // Diverges on its 6th step (as a run whose loss explodes would).
    const diverging: Detector = {
      config: detector.config,
      parameters: detector.parameters,
      losses: (batch) => {
        const losses = detector.losses(batch);
        calls += 1;
        if (calls < 6) return losses;
        const bad = tf.mul(losses.loss_cls!, Number.NaN) as tf.Scalar;
        losses.loss_cls!.dispose();
        return { ...losses, loss_cls: bad };
      },
      predict: (images, shapes) => detector.predict(images, shapes),
      dispose: () => detector.dispose(),
    };
    const loader = new DetectionDataLoader({
      records: dataset.records,
      batchSize: 1,
      transforms: [normalize()],
      seed: 3,
    });
    const checkpointPath = join(
      await mkdtemp(join(tmpdir(), 'det-train-loop-')),
      'model.safetensors',
    );
    const outcome = await trainDetector({
      detector: diverging,
      loader,
      checkpointPath,
      checkpointInterval: 2,
    });
    expect(outcome.stopped).toBe('non-finite-loss');
    expect(outcome.iterations).toBe(5);
    expect(Number.isNaN(outcome.lastLosses!.loss_cls)).toBe(true);
    // The checkpoint of iteration 4 (the last multiple of the interval) is what is on disk.
    const checkpoint = await readCheckpoint(checkpointPath);
    expect(checkpoint.state.iteration).toBe(4);
    disposeCheckpoint(checkpoint);
    const sidecar = JSON.parse(await readFile(`${checkpointPath}.json`, 'utf8')) as {
      config: { kind: string };
      state: { iteration: number };
    };
    expect(sidecar.config.kind).toBe('single-stage');
    expect(sidecar.state.iteration).toBe(4);
    // The detector owns its parameters and its cached priors; nothing else may remain.
    detector.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  }, 300_000);
});
