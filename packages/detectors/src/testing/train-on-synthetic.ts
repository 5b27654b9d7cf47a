import { type CocoDataset, type DetectionBatch, DetectionDataLoader, normalize } from '@det/data';
import { type TrainStepResult, trainerFor } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import { toDetectorBatch } from '../batch';
import type { DetectorConfig } from '../config';
import { createDetector } from '../create-detector';
import type { Detector } from '../detector';
import { smallSyntheticDataset } from './synthetic-fixture';

export interface TrainedOnSynthetic {
  detector: Detector;
  dataset: CocoDataset;
  groundTruthJson: unknown;
  /** Fresh, unshuffled batches of the training images (for predict / evaluate). */
  evalBatches: () => AsyncIterable<DetectionBatch>;
  /** Every step's loss was finite. */
  allFinite: boolean;
}

/**
 * The overfit recipe (tests and benches only): `steps` steps of batch 2 on a few 128 px
 * synthetic images with a short warmup and one LR drop at 80 %, on `@det/train`'s `Trainer`
 * with the optimizer, schedule and clip of the config's `train` section.
 */
export async function trainOnSynthetic(options: {
  config: DetectorConfig;
  steps: number;
  images?: number;
  size?: number;
  maxObjectsPerImage?: number;
  /** Precomputed proposals for a batch (Fast R-CNN). */
  proposalsFor?: (batch: DetectionBatch) => readonly Float32Array[];
  /** Sees every step's result (loss logging in experiments). */
  onStep?: (result: TrainStepResult) => void;
}): Promise<TrainedOnSynthetic> {
  const { config, steps } = options;
  const { dataset, groundTruthJson } = await smallSyntheticDataset({
    images: options.images ?? 2,
    size: options.size ?? 128,
    maxObjectsPerImage: options.maxObjectsPerImage ?? 2,
  });
  const detector = createDetector({
    ...config,
    train: { ...config.train, warmupIters: 20, maxIters: steps, steps: [Math.floor(steps * 0.8)] },
  } as DetectorConfig);
  const trainer = trainerFor(detector, detector.config.train);
  const loader = new DetectionDataLoader({
    records: dataset.records,
    batchSize: 2,
    transforms: [normalize()],
    seed: 0,
  });
  let allFinite = true;
  let step = 0;
  try {
    for await (const batch of loader.batches({ epochs: steps })) {
      if (step++ >= steps) {
        tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
        break;
      }
      try {
        const result = await trainer.stepAsync(
          toDetectorBatch(batch, options.proposalsFor?.(batch)),
        );
        options.onStep?.(result);
        allFinite = result.finite && allFinite;
      } finally {
        tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
      }
    }
  } finally {
    trainer.dispose();
  }
  const evalLoader = new DetectionDataLoader({
    records: dataset.records,
    batchSize: 2,
    transforms: [normalize()],
    shuffle: false,
  });
  return {
    detector,
    dataset,
    groundTruthJson,
    evalBatches: () => evalLoader.batches(),
    allFinite,
  };
}
