import { writeFileSync } from 'node:fs';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DetectorConfig, parseDetectorConfig, presets } from './config';
import { createDetector } from './create-detector';
import {
  type CompositionRecord,
  compositionBatch,
  compositionProposals,
  compositionTest,
  disposeCompositionBatch,
} from './testing/composition-cases';

/**
 * Writes `fixtures/legacy-composition.json` from the per-kind detector classes (RetinaNet,
 * MetaRetinaNet, Rpn, FasterRcnn, FastRcnn, GaRpn, GaRetinaNet, GaFasterRcnn) that the two
 * meta-architectures replace: `DET_WRITE_LEGACY_FIXTURE=1 vitest run src/legacy-composition-fixture.test.ts`.
 * `composition-equivalence.test.ts` checks the compositions against it (1e-6).
 */
const legacyCases: Record<string, () => DetectorConfig> = {
  retinanet: () => withTest(presets.tinyRetinaNet(3)),
  'meta-retinanet': () => withTest(presets.metaRetinanetTiny(3)),
  'meta-retinanet-data-dependent': () => withTest(presets.metaRetinanetTinyDataDependent(3)),
  rpn: () => withTest(presets.tinyRpn()),
  'faster-rcnn': () => withTest(presets.tinyFasterRcnn(3)),
  'fast-rcnn': () => withTest(presets.tinyFastRcnn(3)),
  'ga-rpn': () => withTest(presets.tinyGaRpn()),
  'ga-retinanet': () => withTest(presets.tinyGaRetinaNet(3)),
  'ga-faster-rcnn': () => withTest(presets.tinyGaFasterRcnn(3)),
};

function withTest(config: DetectorConfig): DetectorConfig {
  const value = config as DetectorConfig & Record<string, unknown>;
  const patched: Record<string, unknown> = { ...value };
  if ('test' in value) patched.test = compositionTest;
  if ('rpn' in value) {
    const rpn = value.rpn as Record<string, unknown>;
    patched.rpn = { ...rpn, testProposals: compositionProposals };
  }
  return parseDetectorConfig(patched);
}

describe.skipIf(!process.env.DET_WRITE_LEGACY_FIXTURE)('legacy composition fixture', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('records step-0 losses and predictions of every legacy kind', () => {
    const records: Record<string, CompositionRecord> = {};
    for (const [name, build] of Object.entries(legacyCases)) {
      const detector = createDetector(build());
      const batch = compositionBatch();
      try {
        const losses = detector.losses(batch);
        const lossValues = Object.fromEntries(
          Object.entries(losses).map(([key, value]) => [key, value.dataSync()[0]!]),
        );
        tf.dispose(Object.values(losses));
        const predictions = detector.predict(batch.images, batch.imageShapes, {
          ...(batch.proposals ? { proposals: batch.proposals } : {}),
        });
        let checksum = 0;
        let count = 0;
        for (const { variable } of detector.parameters.entries()) {
          const data = variable.dataSync();
          count++;
          for (let index = 0; index < data.length; index++)
            checksum += data[index]! * ((index % 7) + 1) * ((count % 5) + 1);
        }
        records[name] = {
          parameterNames: detector.parameters.entries().map((entry) => entry.name),
          parameterCount: count,
          parameterChecksum: checksum,
          losses: lossValues,
          predictions: predictions.map((p) => ({
            boxes: [...p.boxes],
            scores: [...p.scores],
            labels: [...p.labels],
          })),
        };
        expect(Object.values(lossValues).every(Number.isFinite)).toBe(true);
      } finally {
        disposeCompositionBatch(batch);
        detector.dispose();
      }
    }
    writeFileSync(
      new URL('../fixtures/legacy-composition.json', import.meta.url),
      `${JSON.stringify(records, null, 1)}\n`,
    );
  }, 300_000);
});
