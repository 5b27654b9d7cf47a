import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import {
  createDetector,
  type DetectorConfig,
  presets,
  type TwoStageDetector,
} from '@det/detectors';
import { engineOptionsOf, learningRateAt, saveCheckpoint } from '@det/train';
import type { RunConfig } from '@det/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultFineTune, fineTuneConfig, prepareFineTune } from './finetune';

const files = { train: 'train.top300.json', val: 'val.top300.json', trainImages: 7 };

function runConfig(detector: DetectorConfig): RunConfig {
  return {
    preset: 'tinyFasterRcnn',
    detector,
    data: { train: 'synthetic', val: 'synthetic', valImages: 20, lenient: false },
    run: {
      checkpointInterval: 100,
      evalInterval: 50,
      logInterval: 20,
      lrPolicy: 'cosine',
      minLr: 0,
      reportImages: 8,
    },
  };
}

function ratesOf(config: RunConfig): number[] {
  const { schedule } = engineOptionsOf(config.detector.train);
  return Array.from({ length: config.detector.train.maxIters }, (_, i) =>
    learningRateAt(schedule, i),
  );
}

describe('fine-tune config (Guided Anchoring §4.2)', () => {
  beforeAll(async () => {
    await initBackend({ wasmThreads: 1 });
  });

  it('E epochs of the proposals file with the rate ×0.1 per epoch, from the checkpoint baseLr', () => {
    // 7 images at batch 2: 4 iterations per epoch.
    const tiny = fineTuneConfig(runConfig(presets.tinyFasterRcnn(5)), defaultFineTune, files);
    expect(tiny.detector.train).toMatchObject({ maxIters: 12, steps: [4, 8], warmupIters: 0 });
    const rates = ratesOf(tiny);
    const expected = [0.02, 0.02, 0.02, 0.02, 0.002, 0.002, 0.002, 0.002, 2e-4, 2e-4, 2e-4, 2e-4];
    for (const [i, rate] of rates.entries()) expect(rate).toBeCloseTo(expected[i]!, 12);
    // The 1× Faster R-CNN: 0.02 per 16 images is 0.0025 at batch 2 (linear scaling); --lr and
    // --epochs / --gamma as given.
    const full = fineTuneConfig(
      runConfig(presets.fasterRcnnR50Fpn1x(80)),
      { ...defaultFineTune, epochs: 2, lr: 0.01, gamma: 0.5 },
      files,
    );
    expect(ratesOf(full).map((rate) => Number(rate.toPrecision(6)))).toEqual([
      0.00125, 0.00125, 0.00125, 0.00125, 0.000625, 0.000625, 0.000625, 0.000625,
    ]);
    // Fine-tunes evaluate at the end and use the step policy whatever the run had.
    expect(tiny.run).toMatchObject({ evalInterval: 0, lrPolicy: 'step', checkpointInterval: 4 });
    expect(tiny.data).toMatchObject({
      trainImages: 7,
      proposals: { train: files.train, val: files.val },
    });
    expect(tiny).not.toHaveProperty('preset');
    expect(() =>
      fineTuneConfig(
        runConfig(presets.tinyFasterRcnn(5)),
        { ...defaultFineTune, epochs: 0 },
        files,
      ),
    ).toThrow('--epochs 0: must be an integer ≥ 1');
  });

  it('replaces the RPN by the file and passes the RoI sampler thresholds and count through', () => {
    const config = fineTuneConfig(
      runConfig(presets.tinyFasterRcnn(5)),
      {
        ...defaultFineTune,
        posIou: 0.6,
        negIou: 0.55,
        roiSamples: 64,
        positiveFraction: 0.5,
        maxProposals: 300,
      },
      files,
    );
    const detectorConfig = config.detector as Extract<DetectorConfig, { kind: 'two-stage' }>;
    expect(detectorConfig.proposals).toEqual({ type: 'precomputed', maxPerImage: 300 });
    expect(detectorConfig.roi).toMatchObject({
      sampleSize: 64,
      positiveFraction: 0.5,
      assigner: {
        posIouThreshold: 0.6,
        negIouThreshold: 0.55,
        minPosIou: 0.6,
        ignoreIofThreshold: 0.5,
      },
    });
    // …and the built RoI head samples with them.
    const before = tf.memory().numTensors;
    const detector = createDetector(detectorConfig) as TwoStageDetector;
    const roiHead = detector.roiHead as unknown as {
      assigner: { posIouThreshold: number; negIouThreshold: number; minPosIou: number };
      sampler: { num: number; posFraction: number };
    };
    expect(roiHead.assigner).toMatchObject({
      posIouThreshold: 0.6,
      negIouThreshold: 0.55,
      minPosIou: 0.6,
    });
    expect(roiHead.sampler).toMatchObject({ num: 64, posFraction: 0.5 });
    expect(detector.denseHead).toBeUndefined();
    detector.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // Defaults keep the checkpoint's sampler (tiny Faster R-CNN: 0.5, 128 RoIs).
    const kept = fineTuneConfig(runConfig(presets.tinyFasterRcnn(5)), defaultFineTune, files)
      .detector as Extract<DetectorConfig, { kind: 'two-stage' }>;
    expect(kept.roi).toMatchObject({
      sampleSize: 128,
      assigner: { posIouThreshold: 0.5, negIouThreshold: 0.5 },
    });
  });

  it('refuses a single-stage checkpoint and weights of another architecture, naming them', async () => {
    expect(() =>
      fineTuneConfig(runConfig(presets.tinyGaRpn()), defaultFineTune, files, 'ga.safetensors'),
    ).toThrow(
      "ga.safetensors: fine-tuning needs a two-stage detector (Faster or Fast R-CNN); this one is single-stage with head.type 'rpn'",
    );
    const folder = await mkdtemp(join(tmpdir(), 'det-finetune-'));
    const proposals = join(folder, 'train.json');
    await writeFile(proposals, JSON.stringify([{ image_id: 1, bbox: [0, 0, 4, 4], score: 1 }]));
    const trained = createDetector(presets.tinyFasterRcnn(5));
    const save = async (name: string, detector: DetectorConfig) => {
      const base = join(folder, name);
      await saveCheckpoint(base, {
        parameters: trained.parameters,
        optimizer: { kind: 'sgd', step: 0, slots: new Map() },
        state: {
          iteration: 3,
          dataPosition: null,
          elapsedSeconds: 0,
          optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 0, step: 0 },
          schedule: { baseLr: 0.02, policy: 'step', warmupIters: 0, warmupRatio: 0.1 },
        },
        config: runConfig(detector) as never,
      });
      return `${base}.safetensors`;
    };
    const lines: string[] = [];
    const good = await save('good', presets.tinyFasterRcnn(5));
    const prepared = await prepareFineTune(
      { checkpoint: good, runsDir: folder, proposals, valProposals: proposals, name: 'ft' },
      (line) => lines.push(line),
    );
    expect(prepared.config.detector.train.maxIters).toBe(3); // 1 image: 1 iteration per epoch
    expect(lines.join('\n')).toMatch(/dropped 6 the model does not have \(rpn_head\.\*\)/);
    const narrower = presets.tinyFasterRcnn(5) as Extract<DetectorConfig, { kind: 'two-stage' }>;
    const bad = await save('bad', { ...narrower, roi: { ...narrower.roi, fcChannels: 64 } });
    await expect(
      prepareFineTune(
        { checkpoint: bad, runsDir: folder, proposals, valProposals: proposals, name: 'ft' },
        () => {},
      ),
    ).rejects.toThrow(
      /bad\.safetensors: parameter 'roi_head\.[\w.]+' is \[[\d,]+\] in the checkpoint but \[[\d,]+\] in the model \(another architecture\?\)/,
    );
    trained.dispose();
  });
});
