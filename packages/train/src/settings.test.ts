import { describe, expect, it } from 'vitest';
import { engineOptionsOf, type TrainSettings } from './settings';

const settings: TrainSettings = {
  baseLr: 0.02,
  baseBatchSize: 16,
  batchSize: 2,
  optimizer: 'sgd',
  momentum: 0.9,
  adamBetas: [0.9, 0.999],
  weightDecay: 1e-4,
  gradClipNorm: 35,
  warmupIters: 500,
  warmupRatio: 0.001,
  maxIters: 90000,
  steps: [60000, 80000],
  gamma: 0.1,
};

describe('engineOptionsOf', () => {
  it('scales the rate linearly with the batch and maps sgd', () => {
    expect(engineOptionsOf(settings)).toEqual({
      optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 1e-4 },
      schedule: {
        baseLr: 0.0025,
        policy: 'step',
        warmupIters: 500,
        warmupRatio: 0.001,
        steps: [60000, 80000],
        gamma: 0.1,
        maxIters: 90000,
      },
      gradClipNorm: 35,
    });
  });

  it("'adam' is AdamW with the section's betas and cosine keeps its floor", () => {
    const options = engineOptionsOf({
      ...settings,
      optimizer: 'adam',
      policy: 'cosine',
      minLr: 1e-5,
    });
    expect(options.optimizer).toEqual({
      kind: 'adamw',
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      weightDecay: 1e-4,
    });
    expect(options.schedule).toMatchObject({ policy: 'cosine', minLr: 1e-5 });
  });
});
