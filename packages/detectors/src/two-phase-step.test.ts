import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from './create-detector';
import { compositionBatch, disposeCompositionBatch } from './testing/composition-cases';
import { everyKind } from './testing/every-kind';
import { stepValues, worstGradientError } from './testing/step-values';

/**
 * The two-phase step (async `prepareLosses`, then a gradient closure that reads nothing back:
 * what webgpu runs) against the one-pass step wasm runs, on wasm, for every kind and scheme:
 * the same losses and gradients bit for bit up to float reassociation, and no leaked tensor.
 * Two fresh detectors of one config: the same weights and the same sampler draws.
 */
describe('a prepared (two-phase) training step equals the one-pass step on wasm', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it.each(Object.keys(everyKind))(
    '%s',
    async (name) => {
      const kind = everyKind[name]!;
      const batch = compositionBatch();
      const onePass = createDetector(kind.config());
      const twoPhase = createDetector(kind.config());
      try {
        const expected = await stepValues(onePass, batch, 'one-pass');
        // Warm-up without random draws: dense heads cache their priors on the first forward.
        twoPhase.predict(batch.images, batch.imageShapes, { proposals: batch.proposals! });
        const before = tf.memory().numTensors;
        const actual = await stepValues(twoPhase, batch, 'two-phase');
        expect(tf.memory().numTensors, 'tensors after a two-phase step').toBe(before);
        expect(Object.keys(actual.losses).sort()).toEqual(kind.losses);
        for (const [key, want] of Object.entries(expected.losses)) {
          expect(Number.isFinite(want), `${key} = ${want}`).toBe(true);
          expect(actual.losses[key], key).toBeCloseTo(want, 6);
        }
        expect(worstGradientError(actual, expected).error).toBeLessThan(1e-6);
        // A second step draws on: the prepared step advanced the samplers as one pass does.
        const second = await stepValues(twoPhase, batch, 'two-phase');
        const secondExpected = await stepValues(onePass, batch, 'one-pass');
        for (const [key, want] of Object.entries(secondExpected.losses)) {
          expect(second.losses[key], `step 2 ${key}`).toBeCloseTo(want, 6);
        }
      } finally {
        disposeCompositionBatch(batch);
        onePass.dispose();
        twoPhase.dispose();
      }
    },
    120_000,
  );

  it.each(['RetinaNet', 'Faster R-CNN'])(
    "%s with norm: 'batch': the same step, and running statistics that move once per step",
    async (name) => {
      const config = () => {
        const base = everyKind[name]!.config();
        return { ...base, backbone: { ...base.backbone, norm: 'batch' as const } };
      };
      const batch = compositionBatch();
      const onePass = createDetector(config());
      const twoPhase = createDetector(config());
      const statistics = (detector: typeof onePass) =>
        detector.parameters
          .entries()
          .filter((entry) => /running_(mean|var)$/.test(entry.name))
          .map((entry) => [entry.name, entry.variable.dataSync().slice()] as const);
      try {
        const initial = statistics(onePass);
        expect(initial.length).toBeGreaterThan(0);
        const expected = await stepValues(onePass, batch, 'one-pass');
        const actual = await stepValues(twoPhase, batch, 'two-phase');
        for (const [key, want] of Object.entries(expected.losses)) {
          expect(actual.losses[key], key).toBeCloseTo(want, 6);
        }
        expect(worstGradientError(actual, expected).error).toBeLessThan(1e-6);
        const after = new Map(statistics(twoPhase));
        let moved = 0;
        for (const [entryName, values] of statistics(onePass)) {
          const other = after.get(entryName)!;
          for (let i = 0; i < values.length; i++) {
            expect(Math.abs(other[i]! - values[i]!), `${entryName}[${i}]`).toBeLessThan(1e-6);
          }
          const start = initial.find(([n]) => n === entryName)![1];
          if (values.some((value, i) => value !== start[i])) moved += 1;
        }
        // Every layer's statistics moved (the training pass ran in training mode).
        expect(moved).toBe(initial.length);
      } finally {
        disposeCompositionBatch(batch);
        onePass.dispose();
        twoPhase.dispose();
      }
    },
    120_000,
  );

  it('a prepared step of another detector is refused, naming it', async () => {
    const batch = compositionBatch();
    const single = createDetector(everyKind.RetinaNet!.config());
    const two = createDetector(everyKind['Faster R-CNN']!.config());
    try {
      const prepared = await single.prepareLosses!(batch);
      try {
        expect(() => two.losses(batch, prepared)).toThrow(
          /TwoStageDetector\.losses: prepared was not made by this detector's prepareLosses/,
        );
      } finally {
        prepared.dispose();
      }
    } finally {
      disposeCompositionBatch(batch);
      single.dispose();
      two.dispose();
    }
  });
});
