import { gaRetinaNetAnchorOptions, gaRpnAnchorOptions } from '@det/anchors-guided';
import { initBackend } from '@det/core';
import type { DetectionBatch } from '@det/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GuidedSchemeConfig } from './anchor-scheme-config';
import { guidedAnchorOptions } from './build-parts';
import type { DetectorConfig } from './config';
import { createDetector } from './create-detector';
import type { Detector } from './detector';
import { evaluateCoco, predictDataset } from './evaluate';
import { presets } from './presets';
import { trainOnSynthetic } from './testing/train-on-synthetic';

const log = (...args: unknown[]) => {
  if (process.env.DET_TEST_LOG) console.log(...args);
};

/** Trains on two 128 px synthetic images, then evaluates on the same two (as overfit.test.ts). */
async function overfit(
  config: DetectorConfig,
  steps: number,
  evaluate: (
    detector: Detector,
    gt: unknown,
    batches: () => AsyncIterable<DetectionBatch>,
    ids: number[],
  ) => Promise<number>,
): Promise<number> {
  const start = performance.now();
  const logEvery = Number(process.env.DET_TEST_LOG_EVERY ?? 25);
  const trained = await trainOnSynthetic({
    config,
    steps,
    onStep: (result) => {
      if ((result.iteration + 1) % logEvery === 0)
        log(result.iteration + 1, JSON.stringify(result.losses));
    },
  });
  log(`${config.kind}: ${steps} steps in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  try {
    expect(trained.allFinite).toBe(true);
    return await evaluate(trained.detector, trained.groundTruthJson, trained.evalBatches, [
      ...trained.dataset.categoryIds,
    ]);
  } finally {
    trained.detector.dispose();
  }
}

/** The dense head's anchor scheme of a guided preset. */
function guidedScheme(config: DetectorConfig): GuidedSchemeConfig {
  const head = config.kind === 'single-stage' ? config.head : config.proposals;
  if (head.type === 'precomputed' || head.anchorScheme.type !== 'guided') {
    throw new Error('expected a guided scheme');
  }
  return head.anchorScheme;
}

describe('Guided Anchoring presets', () => {
  it('1× presets keep mmdetection’s shape-loss divisor; tiny presets divide by positives', () => {
    for (const config of [presets.gaRpnR50Fpn1x(), presets.gaRetinanetR50Fpn1x()]) {
      expect(guidedScheme(config).shapeLossNormalizer).toBe('samples');
      expect(guidedScheme(config).adaptionWeightStd).toBe(0.01);
    }
    for (const config of [presets.tinyGaRpn(), presets.tinyGaRetinaNet(5)]) {
      const scheme = guidedScheme(config);
      expect(scheme.shapeLossNormalizer).toBe('positives');
      expect(scheme.adaptionWeightStd).toBe(0.06);
      const options = guidedAnchorOptions(scheme, 0);
      expect(options.shapeLoss?.normalizer).toBe('positives');
      expect(options.adaptionWeightStd).toBe(0.06);
    }
  });

  it('GA-RetinaNet’s anchor-coder std is 1 (mmdetection), GA-RPN’s 0.14, one source each', () => {
    expect(guidedScheme(presets.gaRetinanetR50Fpn1x()).anchorDeltaStd).toBe(1);
    expect(guidedScheme(presets.gaRpnR50Fpn1x()).anchorDeltaStd).toBe(0.14);
    expect(gaRetinaNetAnchorOptions().deltaStd).toBe(1);
    expect(gaRpnAnchorOptions().deltaStd).toBe(0.14);
  });

  it('GA-RPN starts its objectness at bias 0, GA-RetinaNet at the 0.01 prior (mmdetection)', async () => {
    await initBackend({ backend: 'wasm' });
    const before = tf.memory().numTensors;
    const rpn = createDetector(presets.tinyGaRpn());
    const retina = createDetector(presets.tinyGaRetinaNet(5));
    expect(rpn.parameters.get('rpn_head.rpn_cls.bias').dataSync()[0]).toBe(0);
    expect(retina.parameters.get('bbox_head.retina_cls.bias').dataSync()[0]).toBeCloseTo(
      Math.log(0.01 / 0.99),
      5,
    );
    rpn.dispose();
    retina.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

/**
 * The GA twins of overfit.test.ts: two 128 px images, batch 2, lr 0.02 (tiny presets).
 * `DET_TEST_LOG=1` prints the loss curves; `DET_GA_RPN_STEPS` / `DET_GA_RETINA_STEPS` and
 * `DET_TEST_LOG_EVERY` change the run for experiments.
 */
describe('Guided Anchoring detectors overfit', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('a tiny GA-RPN overfits two images to AR@100 ≥ 0.8 (proposal mode)', async () => {
    const ar100 = await overfit(
      presets.tinyGaRpn(),
      Number(process.env.DET_GA_RPN_STEPS ?? 150),
      async (detector, gt, batches, categoryIds) => {
        const results = await predictDataset(detector, batches(), { categoryIds });
        const { stats } = evaluateCoco(gt, results, { proposals: true });
        // Proposal mode (maxDets 100, 300, 1000): stats[6..8] are AR@100, AR@300, AR@1000.
        log('GA-RPN AR@100/300/1000', stats[6], stats[7], stats[8]);
        return stats[6]!;
      },
    );
    expect(ar100).toBeGreaterThanOrEqual(0.8);
  }, 600_000);

  it('a tiny GA-RetinaNet overfits two images to AP50 ≥ 0.8', async () => {
    const ap50 = await overfit(
      presets.tinyGaRetinaNet(5),
      Number(process.env.DET_GA_RETINA_STEPS ?? 150),
      async (detector, gt, batches, categoryIds) => {
        const results = await predictDataset(detector, batches(), { categoryIds });
        const { stats } = evaluateCoco(gt, results);
        log('GA-RetinaNet AP/AP50', stats[0], stats[1]);
        return stats[1]!;
      },
    );
    expect(ap50).toBeGreaterThanOrEqual(0.8);
  }, 600_000);
});
