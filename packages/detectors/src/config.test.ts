import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { parseDetectorConfig } from './config';
import { createDetector } from './create-detector';
import { presets } from './presets';
import { compositionBatch, disposeCompositionBatch } from './testing/composition-cases';

describe('detector config', () => {
  it('fills mmdetection 1× defaults', () => {
    const config = parseDetectorConfig({
      kind: 'single-stage',
      numClasses: 80,
      head: { type: 'retina' },
    });
    if (config.kind !== 'single-stage' || config.head.type !== 'retina') throw new Error('kind');
    expect(config.backbone).toMatchObject({ depth: 50, frozenStages: 1, fpnChannels: 256 });
    expect(config.head).toMatchObject({
      featChannels: 256,
      stackedConvs: 4,
      focalAlpha: 0.25,
      focalGamma: 2,
      anchorScheme: {
        type: 'dense',
        anchors: { ratios: [0.5, 1, 2], octaveBaseScale: 4, scalesPerOctave: 3 },
      },
      assigner: { posIouThreshold: 0.5, negIouThreshold: 0.4, minPosIou: 0 },
      targetStds: [1, 1, 1, 1],
      regression: { loss: 'l1' },
    });
    expect(config.test).toEqual({
      nmsPre: 1000,
      scoreThreshold: 0.05,
      iouThreshold: 0.5,
      maxPerImage: 100,
    });
    expect(config.train).toMatchObject({
      baseLr: 0.01,
      momentum: 0.9,
      weightDecay: 1e-4,
      gradClipNorm: 35,
    });
    const faster = presets.fasterRcnnR50Fpn1x();
    if (faster.kind !== 'two-stage' || faster.proposals.type !== 'rpn') throw new Error('kind');
    expect(faster.roi).toMatchObject({
      roiSize: 7,
      fcChannels: 1024,
      sampleSize: 512,
      positiveFraction: 0.25,
      assigner: { posIouThreshold: 0.5, negIouThreshold: 0.5, minPosIou: 0.5 },
    });
    expect(faster.roi.targetStds).toEqual([0.1, 0.1, 0.2, 0.2]);
    expect(faster.proposals.testProposals).toMatchObject({
      nmsPre: 1000,
      iouThreshold: 0.7,
      maxPerImage: 1000,
    });
    expect(faster.proposals.assigner).toEqual({
      posIouThreshold: 0.7,
      negIouThreshold: 0.3,
      minPosIou: 0.3,
      ignoreIofThreshold: 0.5,
    });
  });

  it('a parsed config parses to itself', () => {
    for (const config of [
      presets.tinyGaFasterRcnn(),
      presets.tinyMetaGuidedRetinaNet(),
      presets.tinyMetaRpn(),
      presets.tinyFastRcnn(),
    ]) {
      expect(parseDetectorConfig(config)).toEqual(config);
    }
  });

  it('names the field and value of a bad config', () => {
    const retina = { kind: 'single-stage', head: { type: 'retina' } };
    expect(() => parseDetectorConfig({ ...retina, numClasses: -3 }, 'my.json')).toThrow(
      /my\.json.*\n.*numClasses/,
    );
    expect(() =>
      parseDetectorConfig({ ...retina, numClasses: 3, backbone: { depth: 42 } }),
    ).toThrow(/backbone\.depth/);
    expect(() => parseDetectorConfig({ kind: 'yolo' })).toThrow(/kind/);
    expect(() => parseDetectorConfig(retina)).toThrow(/numClasses: required for a 'retina' head/);
  });

  it('rejects unknown fields and fields that would have no effect, naming their path', () => {
    const bad = (config: unknown) => () => parseDetectorConfig(config, 'c.json');
    // A typo anywhere.
    expect(
      bad({ kind: 'single-stage', numClasses: 3, head: { type: 'retina', featChanels: 8 } }),
    ).toThrow(/c\.json: invalid detector config\n {2}head\.featChanels: /);
    expect(bad({ kind: 'two-stage', numClasses: 3, proposals: { type: 'rpn' }, rio: {} })).toThrow(
      /\n {2}rio: /,
    );
    // The old GA-RetinaNet silently ignored dense anchors: a guided scheme has none.
    expect(
      bad({
        kind: 'single-stage',
        numClasses: 3,
        head: {
          type: 'retina',
          anchorScheme: { type: 'guided', anchors: { ratios: [1], scales: [4] } },
        },
      }),
    ).toThrow(/head\.anchorScheme\.anchors: /);
    // A MetaAnchor field on a dense scheme, a GA field on MetaAnchor.
    expect(
      bad({
        kind: 'single-stage',
        head: { type: 'rpn', anchorScheme: { type: 'dense', hiddenSize: 8 } },
      }),
    ).toThrow(/head\.anchorScheme\.hiddenSize/);
    expect(
      bad({
        kind: 'single-stage',
        head: { type: 'rpn', anchorScheme: { type: 'meta', squareScale: 4 } },
      }),
    ).toThrow(/head\.anchorScheme\.squareScale/);
    // Fields of another head style or of an absent part.
    expect(bad({ kind: 'single-stage', head: { type: 'rpn', stackedConvs: 2 } })).toThrow(
      /head\.stackedConvs/,
    );
    expect(bad({ kind: 'single-stage', numClasses: 3, head: { type: 'rpn' } })).toThrow(
      /numClasses: has no effect on an 'rpn' head/,
    );
    expect(bad({ kind: 'single-stage', head: { type: 'rpn' }, test: {} })).toThrow(
      /test: has no effect on an 'rpn' head/,
    );
    expect(
      bad({
        kind: 'two-stage',
        numClasses: 3,
        proposals: { type: 'precomputed', testProposals: { maxPerImage: 300 } },
      }),
    ).toThrow(/proposals\.testProposals/);
  });

  it('exposes the assigner thresholds of every head (MetaAnchor 0.6 / 0.5; GA-Faster RoI 0.6)', () => {
    const config = parseDetectorConfig({
      kind: 'single-stage',
      numClasses: 3,
      head: {
        type: 'retina',
        anchorScheme: { type: 'meta' },
        assigner: { posIouThreshold: 0.6, negIouThreshold: 0.5, minPosIou: 0 },
      },
    });
    expect(config).toMatchObject({ head: { assigner: { posIouThreshold: 0.6 } } });
    const gaFaster = presets.gaFasterRcnnR50Fpn1x();
    expect(gaFaster).toMatchObject({
      roi: { assigner: { posIouThreshold: 0.6, negIouThreshold: 0.6, minPosIou: 0.6 } },
      proposals: { trainProposals: { maxPerImage: 300 }, testProposals: { maxPerImage: 300 } },
    });
    const fast = parseDetectorConfig({
      kind: 'two-stage',
      numClasses: 3,
      proposals: { type: 'precomputed', maxPerImage: 300 },
      roi: { assigner: { posIouThreshold: 0.6, negIouThreshold: 0.6, minPosIou: 0.6 } },
    });
    expect(fast).toMatchObject({ proposals: { maxPerImage: 300 } });
  });

  it('roi.targetStds changes the RoI regression loss (Faster and Fast R-CNN)', async () => {
    await initBackend({ backend: 'wasm' });
    for (const preset of [presets.tinyFasterRcnn(3), presets.tinyFastRcnn(3)]) {
      if (preset.kind !== 'two-stage') throw new Error('kind');
      const lossBbox = (targetStds: [number, number, number, number]) => {
        const detector = createDetector({ ...preset, roi: { ...preset.roi, targetStds } });
        const batch = compositionBatch();
        try {
          const losses = detector.losses(batch);
          const value = losses.loss_bbox!.dataSync()[0]!;
          tf.dispose(Object.values(losses));
          return value;
        } finally {
          disposeCompositionBatch(batch);
          detector.dispose();
        }
      };
      const narrow = lossBbox([0.1, 0.1, 0.2, 0.2]);
      const wide = lossBbox([1, 1, 1, 1]);
      expect(Number.isFinite(narrow) && Number.isFinite(wide)).toBe(true);
      // Deltas divided by stds 10× smaller: targets (and the L1 loss at init) grow.
      expect(narrow).toBeGreaterThan(wide * 2);
    }
  });
});
