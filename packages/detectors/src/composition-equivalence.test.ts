import { readFileSync } from 'node:fs';
import { initBackend } from '@det/core';
import { expectClose } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DetectorConfig, parseDetectorConfig } from './config';
import { createDetector } from './create-detector';
import { presets } from './presets';
import {
  type CompositionRecord,
  compositionBatch,
  compositionProposals,
  compositionTest,
  disposeCompositionBatch,
} from './testing/composition-cases';

/**
 * `fixtures/legacy-composition.json` holds, for every detector kind of the seven per-kind
 * classes these two meta-architectures replaced (RetinaNet, MetaRetinaNet, Rpn, FasterRcnn,
 * FastRcnn, GaRpn, GaRetinaNet, GaFasterRcnn), the step-0 losses, predictions and parameter
 * names of a tiny model, written by those classes (commit 91501f8,
 * `src/legacy-composition-fixture.test.ts`). The preset of each kind, built through
 * `createDetector`, must reproduce them for the same seed and batch.
 */
const legacy = JSON.parse(
  readFileSync(new URL('../fixtures/legacy-composition.json', import.meta.url), 'utf8'),
) as Record<string, CompositionRecord>;

const cases: Record<string, () => DetectorConfig> = {
  retinanet: () => presets.tinyRetinaNet(3),
  'meta-retinanet': () => presets.metaRetinanetTiny(3),
  'meta-retinanet-data-dependent': () => presets.metaRetinanetTinyDataDependent(3),
  rpn: () => presets.tinyRpn(),
  'faster-rcnn': () => presets.tinyFasterRcnn(3),
  'fast-rcnn': () => presets.tinyFastRcnn(3),
  'ga-rpn': () => presets.tinyGaRpn(),
  'ga-retinanet': () => presets.tinyGaRetinaNet(3),
  // The legacy GA-Faster R-CNN tiny preset kept GA-RPN's 1× guided settings (the preset now
  // takes tinyGaRpn's); the fixture was written with those.
  'ga-faster-rcnn': () => {
    const config = presets.tinyGaFasterRcnn(3);
    if (config.kind !== 'two-stage' || config.proposals.type !== 'rpn') throw new Error('GA-RPN');
    return parseDetectorConfig({
      ...config,
      proposals: {
        ...config.proposals,
        anchorScheme: {
          type: 'guided',
          locationNegativeWeight: 1,
          locationLossNormalizer: { mode: 'positives' },
        },
      },
    });
  },
};

/** The fixture's test settings: no score floor, 8 detections / proposals per image. */
function withTest(config: DetectorConfig): DetectorConfig {
  if (config.kind === 'single-stage') {
    return parseDetectorConfig(
      config.head.type === 'retina'
        ? { ...config, test: compositionTest }
        : { ...config, head: { ...config.head, testProposals: compositionProposals } },
    );
  }
  const { proposals } = config;
  return parseDetectorConfig({
    ...config,
    test: compositionTest,
    proposals:
      proposals.type === 'rpn' ? { ...proposals, testProposals: compositionProposals } : proposals,
  });
}

/**
 * The same code on the same backend: only float32 summation order may differ (the composed
 * detectors build the same layers in the same order), so 1e-6 absolute + 1e-6 relative.
 */
const sameComputation = { atol: 1e-6, rtol: 1e-6 };

describe('the two meta-architectures reproduce every legacy kind', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('has a case for every fixture entry', () => {
    expect(Object.keys(cases).sort()).toEqual(Object.keys(legacy).sort());
  });

  it.each(Object.keys(cases))(
    '%s: same parameters, step-0 losses and predictions (1e-6)',
    (name) => {
      const expected = legacy[name]!;
      const detector = createDetector(withTest(cases[name]!()));
      const batch = compositionBatch();
      try {
        expect(detector.parameters.entries().map((entry) => entry.name)).toEqual(
          expected.parameterNames,
        );
        const losses = detector.losses(batch);
        expect(Object.keys(losses).sort()).toEqual(Object.keys(expected.losses).sort());
        for (const [key, value] of Object.entries(losses)) {
          expectClose([value.dataSync()[0]!], [expected.losses[key]!], {
            ...sameComputation,
            label: key,
          });
        }
        tf.dispose(Object.values(losses));
        // After the first forward (dense heads cache their sliding-window priors): no leak.
        const before = tf.memory().numTensors;
        tf.dispose(Object.values(detector.losses(batch)));
        const predictions = detector.predict(batch.images, batch.imageShapes, {
          ...(batch.proposals ? { proposals: batch.proposals } : {}),
        });
        expect(tf.memory().numTensors).toBe(before);
        expect(predictions).toHaveLength(expected.predictions.length);
        predictions.forEach((prediction, image) => {
          const reference = expected.predictions[image]!;
          expectClose(prediction.scores, reference.scores, {
            ...sameComputation,
            label: `image ${image} scores`,
          });
          expectClose(prediction.boxes, reference.boxes, {
            ...sameComputation,
            label: `image ${image} boxes`,
          });
          expect([...prediction.labels]).toEqual(reference.labels);
        });
      } finally {
        disposeCompositionBatch(batch);
        detector.dispose();
      }
    },
  );
});
