import * as tf from '@tensorflow/tfjs-core';
import { type DetectorConfig, parseDetectorConfig } from '../config';
import type { DetectorBatch } from '../detector';

/**
 * The fixed inputs of the composition-equivalence check: a 2-image 64 px batch with a few
 * boxes, and precomputed proposals for Fast R-CNN. Built from closed-form values (no RNG), so
 * the legacy fixture (generated from the per-kind classes before they were replaced) and the
 * test see the same batch.
 */
export function compositionBatch(): DetectorBatch {
  const size = 64;
  const values = new Float32Array(2 * size * size * 3);
  for (let index = 0; index < values.length; index++) {
    values[index] = Math.sin(index * 0.37) * 0.8 + Math.cos(index * 0.011) * 0.5;
  }
  return {
    images: tf.tensor4d(values, [2, size, size, 3]),
    gtBoxes: [
      tf.tensor2d([4, 6, 30, 40, 20, 22, 60, 50], [2, 4]),
      tf.tensor2d([10, 12, 42, 28], [1, 4]),
    ],
    gtLabels: [tf.tensor1d([0, 2], 'int32'), tf.tensor1d([1], 'int32')],
    imageShapes: [
      [64, 64],
      [60, 64],
    ],
    proposals: [
      new Float32Array([2, 4, 32, 38, 18, 20, 58, 52, 0, 0, 20, 20, 30, 30, 63, 63]),
      new Float32Array([8, 10, 44, 30, 12, 14, 40, 26, 40, 4, 60, 24]),
    ],
  };
}

export function disposeCompositionBatch(batch: DetectorBatch): void {
  tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels]);
}

/** Test settings that make untrained detectors return boxes (no score floor, few per image). */
export const compositionTest = {
  nmsPre: 200,
  scoreThreshold: 0,
  iouThreshold: 0.5,
  maxPerImage: 8,
} as const;
export const compositionProposals = {
  nmsPre: 200,
  iouThreshold: 0.7,
  maxPerImage: 8,
  minBoxSize: 0,
} as const;

/** What the fixture records of one detector: step-0 losses and predictions. */
export interface CompositionRecord {
  parameterNames: string[];
  parameterCount: number;
  parameterChecksum: number;
  losses: Record<string, number>;
  predictions: { boxes: number[]; scores: number[]; labels: number[] }[];
}

/**
 * `config` with test settings under which an untrained model returns boxes (no score floor,
 * 8 per image), or — `empty` — under which nothing survives: a score floor above 1 for
 * detections, a minimum proposal side of 1000 px (the images are 64 px) for proposals.
 */
export function withCompositionTest(config: DetectorConfig, empty = false): DetectorConfig {
  const test = empty ? { ...compositionTest, scoreThreshold: 2 } : compositionTest;
  const proposals = empty ? { ...compositionProposals, minBoxSize: 1000 } : compositionProposals;
  if (config.kind === 'single-stage') {
    return parseDetectorConfig(
      config.head.type === 'retina'
        ? { ...config, test }
        : { ...config, head: { ...config.head, testProposals: proposals } },
    );
  }
  return parseDetectorConfig({
    ...config,
    test,
    proposals:
      config.proposals.type === 'rpn'
        ? { ...config.proposals, testProposals: proposals }
        : config.proposals,
  });
}
