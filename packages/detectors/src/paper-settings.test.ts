import { initBackend, type MaxIoUAssigner } from '@det/core';
import { boxesInRange, metaAnchorDropRange } from '@det/data';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DetectorConfig, parseDetectorConfig } from './config';
import { createDetector } from './create-detector';
import type { DetectorBatch } from './detector';
import { PrecomputedProposalSource } from './parts';
import { presets } from './presets';
import { compositionBatch, disposeCompositionBatch } from './testing/composition-cases';
import { TwoStageDetector } from './two-stage-detector';

/** One 64 px image whose only object was dropped (MetaAnchor Table 4): an ignore box over all. */
function droppedOnlyBatch(): DetectorBatch {
  return {
    images: tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D,
    gtBoxes: [tf.zeros([0, 4]) as tf.Tensor2D],
    gtLabels: [tf.zeros([0], 'int32') as tf.Tensor1D],
    gtIgnoreBoxes: [tf.tensor2d([[-1000, -1000, 1000, 1000]])],
    imageShapes: [[64, 64]],
    proposals: [new Float32Array([2, 4, 32, 38, 18, 20, 58, 52, 0, 0, 20, 20])],
  };
}

type AssignerHolders = Record<string, { assigner?: { ignoreIofThreshold: number } } | undefined>;

/** The config with every assigner's `ignoreIofThreshold` set (dense head(s) and RoI head). */
function withIgnoreIof(config: DetectorConfig, value: number): DetectorConfig {
  const raw = structuredClone(config) as unknown as AssignerHolders;
  for (const key of ['head', 'proposals', 'roi']) {
    const assigner = raw[key]?.assigner;
    if (assigner) assigner.ignoreIofThreshold = value;
  }
  return parseDetectorConfig(raw);
}

function lossValues(config: DetectorConfig): Record<string, number> {
  const detector = createDetector(config);
  const batch = droppedOnlyBatch();
  const losses = detector.losses(batch);
  const values = Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, v.dataSync()[0]!]));
  tf.dispose([...Object.values(losses), batch.images, ...batch.gtBoxes, ...batch.gtLabels]);
  tf.dispose([...batch.gtIgnoreBoxes!]);
  detector.dispose();
  return values;
}

describe('paper-exact settings reach the detector', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  // GA's loss_loc / loss_shape have their own targets (mmdetection's ga_loc_target takes no
  // ignore boxes); every classification and regression loss of a head and RoI head is checked.
  const cases: [string, () => DetectorConfig][] = [
    ['RetinaNet', () => presets.tinyRetinaNet(3)],
    ['MetaAnchor RetinaNet', () => presets.metaRetinanetTiny(3)],
    ['GA-RetinaNet', () => presets.tinyGaRetinaNet(3)],
    ['RPN', () => presets.tinyRpn()],
    ['Faster R-CNN', () => presets.tinyFasterRcnn(3)],
    ['Fast R-CNN', () => presets.tinyFastRcnn(3)],
  ];
  for (const [name, preset] of cases) {
    it(`${name}: a dropped object contributes no classification or regression loss`, () => {
      const config = preset();
      const raw = config as unknown as AssignerHolders;
      for (const key of ['head', 'proposals', 'roi']) {
        const assigner = raw[key]?.assigner;
        if (assigner) expect(assigner.ignoreIofThreshold, key).toBe(0.5);
      }
      const before = tf.memory().numTensors;
      const on = lossValues(config);
      expect(tf.memory().numTensors).toBe(before);
      const off = lossValues(withIgnoreIof(config, -1));
      const main = Object.keys(on).filter((k) => k !== 'loss_loc' && k !== 'loss_shape');
      expect(main.length).toBeGreaterThanOrEqual(2);
      for (const key of main) expect(Math.abs(on[key]!), key).toBe(0);
      // mmdetection's default (−1, off): the dropped object trains as background.
      const clsKeys = main.filter((k) => k.includes('cls'));
      expect(clsKeys.length).toBeGreaterThan(0);
      for (const key of clsKeys) expect(off[key], key).toBeGreaterThan(0);
    });
  }

  it('Fast R-CNN: RoI positive IoU and proposal count come from the config', () => {
    const detector = createDetector(
      parseDetectorConfig({
        ...presets.tinyFastRcnn(3),
        proposals: { type: 'precomputed', maxPerImage: 300 },
        roi: {
          ...(presets.tinyFastRcnn(3) as Extract<DetectorConfig, { kind: 'two-stage' }>).roi,
          assigner: { posIouThreshold: 0.6, negIouThreshold: 0.6, minPosIou: 0.6 },
        },
      }),
    );
    if (!(detector instanceof TwoStageDetector)) throw new Error('two-stage');
    const assigner = (detector.roiHead as unknown as { assigner: MaxIoUAssigner }).assigner;
    expect([assigner.posIouThreshold, assigner.negIouThreshold, assigner.minPosIou]).toEqual([
      0.6, 0.6, 0.6,
    ]);
    expect(detector.proposals).toBeInstanceOf(PrecomputedProposalSource);
    expect((detector.proposals as unknown as { maxPerImage: number }).maxPerImage).toBe(300);
    detector.dispose();
  });

  /** GA's losses of a tiny guided / meta-guided preset with the scheme fields overridden. */
  function guidedLosses(
    preset: () => DetectorConfig,
    scheme: Record<string, unknown>,
  ): Record<string, number> {
    const base = preset() as Extract<DetectorConfig, { kind: 'single-stage' }>;
    const detector = createDetector(
      parseDetectorConfig({
        ...base,
        head: { ...base.head, anchorScheme: { ...base.head.anchorScheme, ...scheme } },
      }),
    );
    const batch = compositionBatch();
    const losses = detector.losses(batch);
    const values = Object.fromEntries(
      Object.entries(losses).map(([k, v]) => [k, v.dataSync()[0]!]),
    );
    tf.dispose(Object.values(losses));
    disposeCompositionBatch(batch);
    detector.dispose();
    return values;
  }

  const guidedCases: [string, () => DetectorConfig][] = [
    ['guided', () => presets.tinyGaRetinaNet(3)],
    ['meta-guided', () => presets.tinyMetaGuidedRetinaNet(3)],
  ];
  for (const [name, preset] of guidedCases) {
    it(`${name}: λ1, λ2, the location negative weight, normaliser and centre offset reach the losses`, () => {
      const base = guidedLosses(preset, {
        locationLossWeight: 1,
        shapeLossWeight: 1,
        locationNegativeWeight: 1,
        locationLossNormalizer: { mode: 'cells', divisor: 200 },
      });
      expect(base.loss_loc).toBeGreaterThan(0);
      expect(base.loss_shape).toBeGreaterThan(0);
      // λ2 = 0.1 (the paper's) scales loss_shape by exactly 0.1; loss_loc is untouched.
      const paper = guidedLosses(preset, {
        locationLossWeight: 1,
        shapeLossWeight: 0.1,
        locationNegativeWeight: 1,
        locationLossNormalizer: { mode: 'cells', divisor: 200 },
      });
      expect(paper.loss_shape! / base.loss_shape!).toBeCloseTo(0.1, 6);
      expect(paper.loss_loc).toBe(base.loss_loc);
      // λ1 = 2 doubles loss_loc.
      const lambda1 = guidedLosses(preset, {
        locationLossWeight: 2,
        shapeLossWeight: 1,
        locationNegativeWeight: 1,
        locationLossNormalizer: { mode: 'cells', divisor: 200 },
      });
      expect(lambda1.loss_loc! / base.loss_loc!).toBeCloseTo(2, 6);
      // The divisor: cells ÷ 100 is twice the divisor of cells ÷ 200, so half the loss.
      const divisor = guidedLosses(preset, {
        locationLossWeight: 1,
        shapeLossWeight: 1,
        locationNegativeWeight: 1,
        locationLossNormalizer: { mode: 'cells', divisor: 100 },
      });
      expect(divisor.loss_loc! / base.loss_loc!).toBeCloseTo(0.5, 6);
      // mmdetection's negatives at 0.1: the (negative-dominated) loss falls, but stays > 0.1×.
      const negatives = guidedLosses(preset, {
        locationLossWeight: 1,
        shapeLossWeight: 1,
        locationNegativeWeight: 0.1,
        locationLossNormalizer: { mode: 'cells', divisor: 200 },
      });
      expect(negatives.loss_loc!).toBeLessThan(base.loss_loc!);
      expect(negatives.loss_loc!).toBeGreaterThan(0.1 * base.loss_loc!);
      // Anchor centres at (i + ½)·s move the location targets: another loss_loc.
      const offset = guidedLosses(preset, {
        locationLossWeight: 1,
        shapeLossWeight: 1,
        locationNegativeWeight: 1,
        locationLossNormalizer: { mode: 'cells', divisor: 200 },
        centerOffset: 0.5,
      });
      expect(offset.loss_loc).not.toBe(base.loss_loc);
    });
  }

  it('the 1× GA presets follow mmdetection’s loss settings, the paper’s λ2 is one field away', () => {
    for (const config of [presets.gaRpnR50Fpn1x(), presets.gaRetinanetR50Fpn1x()]) {
      const scheme = (config as Extract<DetectorConfig, { kind: 'single-stage' }>).head
        .anchorScheme;
      expect(scheme).toMatchObject({
        locationLossWeight: 1,
        shapeLossWeight: 1,
        locationNegativeWeight: 0.1,
        locationLossNormalizer: { mode: 'cells', divisor: 200 },
        centerOffset: 0,
      });
    }
    expect(() =>
      parseDetectorConfig({
        kind: 'single-stage',
        head: { type: 'rpn', anchorScheme: { type: 'guided', shapeLossWeight: -1 } },
      }),
    ).toThrow(/anchorScheme\.shapeLossWeight/);
  });

  it('MetaAnchor "drop" (Table 4) reads −1 < log(w/h) < 1 with the natural log', () => {
    // √(hw) = 70 in every box; w/h = 2.5 (ln 0.92, log₂ 1.32), 2.8 (ln 1.03, log₁₀ 0.45),
    // 1 / 2.5 and 1 / 2.8: only the natural log drops the first pair and keeps the second.
    const box = (ratio: number) => {
      const [w, h] = [70 * Math.sqrt(ratio), 70 / Math.sqrt(ratio)];
      return [0, 0, w, h];
    };
    const boxes = Float32Array.from([2.5, 2.8, 1 / 2.5, 1 / 2.8, 1].flatMap(box));
    expect(boxesInRange(boxes, metaAnchorDropRange)).toEqual([true, false, true, false, true]);
    expect(metaAnchorDropRange).toEqual({
      minScale: 50,
      maxScale: 100,
      minLogRatio: -1,
      maxLogRatio: 1,
    });
  });

  it('GA: a dropped object is ignored in loss_loc too (locationIgnoreBoxes), not learnt as background', () => {
    const lossLoc = (locationIgnoreBoxes: boolean, dropped: number[][]) => {
      const base = presets.tinyGaRetinaNet(3) as Extract<DetectorConfig, { kind: 'single-stage' }>;
      const detector = createDetector(
        parseDetectorConfig({
          ...base,
          head: { ...base.head, anchorScheme: { ...base.head.anchorScheme, locationIgnoreBoxes } },
        }),
      );
      const batch = droppedOnlyBatch();
      const ignore = tf.tensor2d(dropped.length ? dropped : [], [dropped.length, 4]);
      const losses = detector.losses({ ...batch, gtIgnoreBoxes: [ignore] });
      const value = losses.loss_loc!.dataSync()[0]!;
      tf.dispose([...Object.values(losses), batch.images, ...batch.gtBoxes, ...batch.gtLabels]);
      tf.dispose([...batch.gtIgnoreBoxes!, ignore]);
      detector.dispose();
      return value;
    };
    const box = [[8, 8, 56, 56]];
    const none = lossLoc(true, []);
    // Off (mmdetection): the dropped object's cells are negatives, exactly as without it.
    expect(lossLoc(false, box)).toBe(none);
    // On: its centre / ignore-region cells leave the loss, so the background loss shrinks.
    const on = lossLoc(true, box);
    expect(on).toBeLessThan(none);
    expect(on).toBeGreaterThan(0);
  });
});
