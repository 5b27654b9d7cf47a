import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import {
  type DataItem,
  engineOptionsOf,
  type TrainingData,
  type TrainingHook,
  trainerFor,
  trainLoop,
} from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from './create-detector';
import type { Detector, DetectorBatch } from './detector';
import { presets } from './presets';

/** Batch `i`: one 64 px image (seeded noise) with two boxes; the same for the same `i`. */
function batchAt(index: number): DetectorBatch {
  const offset = (index % 3) * 4;
  return {
    images: tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', index + 1) as tf.Tensor4D,
    gtBoxes: [
      tf.tensor2d([
        [8 + offset, 10, 30 + offset, 34],
        [34, 28 - offset, 58, 60 - offset],
      ]),
    ],
    gtLabels: [tf.tensor1d([index % 3, (index + 1) % 3], 'int32')],
    imageShapes: [[64, 64]],
  };
}

const data: TrainingData<DetectorBatch> = {
  async *batches(from) {
    for (let index = (from as number | undefined) ?? 0; ; index++) {
      const batch = batchAt(index);
      yield {
        batch,
        next: index + 1,
        size: 1,
        dispose: () => tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels]),
      } satisfies DataItem<DetectorBatch>;
    }
  },
};

const tinyFasterRcnn = () => {
  const config = presets.tinyFasterRcnn(3);
  return { ...config, train: { ...config.train, warmupIters: 2, maxIters: 6, steps: [5] } };
};

/** Trains a fresh tiny Faster R-CNN to 6 steps (or until stopped); its weights afterwards. */
async function run(options: {
  directory?: string;
  stopAfter?: number;
  resume?: boolean;
  wrap?: (detector: Detector) => Detector;
}): Promise<{ iterations: number; weights: Float32Array[] }> {
  const detector = createDetector(tinyFasterRcnn());
  const model = options.wrap ? options.wrap(detector) : detector;
  const trainer = trainerFor(model, detector.config.train);
  const controller = new AbortController();
  const stop: TrainingHook<DetectorBatch> = {
    afterStep: (_, report) => {
      if (report.iteration + 1 === options.stopAfter) controller.abort();
    },
  };
  const outcome = await trainLoop({
    trainer,
    data,
    optimizerOptions: engineOptionsOf(detector.config.train).optimizer,
    maxIters: 6,
    ...(options.directory ? { checkpoint: { directory: options.directory, interval: 100 } } : {}),
    resume: options.resume ?? false,
    hooks: [stop],
    signal: controller.signal,
  });
  expect(outcome.lastLosses && Object.values(outcome.lastLosses).every(Number.isFinite)).toBe(true);
  const weights = detector.parameters
    .entries()
    .map((entry) => entry.variable.dataSync() as Float32Array);
  trainer.dispose();
  detector.dispose();
  return { iterations: outcome.iterations, weights };
}

function maxDifference(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  a.forEach((values, index) => {
    values.forEach((value, i) => {
      max = Math.max(max, Math.abs(value - b[index]![i]!));
    });
  });
  return max;
}

describe('random state of composed detectors', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('names every seeded generator the parts draw from while training', () => {
    const paths = (config: ReturnType<typeof presets.tinyRetinaNet>) => {
      const detector = createDetector(config);
      const state = detector.randomState?.() ?? {};
      detector.dispose();
      return Object.keys(state);
    };
    expect(paths(presets.tinyRetinaNet(3))).toEqual([]);
    expect(paths(presets.tinyRpn())).toEqual(['head.options.sampler.nextSeed']);
    // MetaAnchor's jitter plan, GA's shape sampler, the RPN's anchor sampler.
    expect(paths(presets.tinyMetaRpn())).toEqual([
      'head.anchorFunction.random',
      'head.options.sampler.nextSeed',
    ]);
    expect(paths(presets.metaRetinanetTiny(3))).toEqual(['head.anchorFunction.random']);
    expect(paths(presets.tinyGaRetinaNet(3))).toEqual([
      'head.anchorFunction.options.shapeTargets.sampler.nextSeed',
    ]);
    expect(paths(presets.tinyMetaGuidedRetinaNet(3))).toEqual([
      'head.anchorFunction.options.shapeTargets.sampler.nextSeed',
    ]);
    expect(paths(presets.tinyFasterRcnn(3))).toEqual([
      'proposals.head.options.sampler.nextSeed',
      'roiHead.sampler.nextSeed',
    ]);
    expect(paths(presets.tinyGaFasterRcnn(3))).toEqual([
      'proposals.head.anchorFunction.options.shapeTargets.sampler.nextSeed',
      'proposals.head.options.sampler.nextSeed',
      'roiHead.sampler.nextSeed',
    ]);
    expect(paths(presets.tinyFastRcnn(3))).toEqual(['roiHead.sampler.nextSeed']);
  });

  it("restoring MetaAnchor's jitter replays the same training anchors, hence the same losses", () => {
    const detector = createDetector(presets.metaRetinanetTiny(3));
    const before = tf.memory().numTensors;
    const batch = batchAt(0);
    const lossValues = () => {
      const losses = detector.losses(batch);
      const values = Object.fromEntries(
        Object.entries(losses).map(([name, loss]) => [name, loss.dataSync()[0]!]),
      );
      tf.dispose(Object.values(losses));
      return values;
    };
    const saved = detector.randomState!();
    const first = lossValues();
    const second = lossValues();
    expect(second.loss_cls).not.toBe(first.loss_cls);
    detector.restoreRandomState!(saved);
    expect(lossValues()).toEqual(first);
    tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels]);
    expect(tf.memory().numTensors).toBe(before);
    detector.dispose();
  });

  it('a tiny Faster R-CNN stopped at step 3 and resumed ends with the uninterrupted weights (1e-6)', async () => {
    const before = tf.memory().numTensors;
    const straight = await run({});
    expect(straight.iterations).toBe(6);

    const directory = await mkdtemp(join(tmpdir(), 'det-two-stage-resume-'));
    expect((await run({ directory, stopAfter: 3 })).iterations).toBe(3);
    const resumed = await run({ directory, resume: true });
    expect(resumed.iterations).toBe(6);
    expect(maxDifference(resumed.weights, straight.weights)).toBeLessThanOrEqual(1e-6);

    // The same resume with the samplers restarted from their seeds drifts away: the state matters.
    const blind = await mkdtemp(join(tmpdir(), 'det-two-stage-resume-'));
    await run({ directory: blind, stopAfter: 3 });
    const forgetful = await run({
      directory: blind,
      resume: true,
      wrap: (detector) => ({
        config: detector.config,
        parameters: detector.parameters,
        losses: (batch) => detector.losses(batch),
        predict: (images, shapes) => detector.predict(images, shapes),
        dispose: () => detector.dispose(),
      }),
    });
    expect(maxDifference(forgetful.weights, straight.weights)).toBeGreaterThan(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });
});
