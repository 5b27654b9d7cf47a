import { initBackend, MaxIoUAssigner, ParameterStore, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnchorHead } from './anchor-head';
import { createRetinaHead, retinaAssigner } from './retina-head';
import { createRpnHead, rpnAssigner } from './rpn-head';

// A 4 × 4 grid of 16-pixel anchors over a 64 × 64 image; anchor i·4 + j is [16j, 16i, …].
const grid = Array.from({ length: 16 }, (_, k) => {
  const [row, col] = [Math.floor(k / 4), k % 4];
  return [col * 16, row * 16, col * 16 + 16, row * 16 + 16];
});
// A dropped object over the top-left 2 × 2 anchors (IoF 1 for each of them).
const droppedBox = [[0, 0, 32, 32]];
const covered = [0, 1, 4, 5];
const shapes = [[64, 64]] as const;

/** Per-anchor |∂L/∂logits| + |∂L/∂deltas| of the head's total loss. */
function gradientPerAnchor(
  head: AnchorHead,
  gtBoxes: tf.Tensor2D,
  gtLabels: tf.Tensor1D,
): number[] {
  return tf.tidy(() => {
    const priors = tf.tensor2d(grid);
    const dropped = tf.tensor2d(droppedBox);
    const cls = tf.fill([1, 16, head.numClasses], -1) as tf.Tensor3D;
    const deltas = tf.fill([1, 16, 4], 0.1) as tf.Tensor3D;
    const [dCls, dDeltas] = tf.grads((c: tf.Tensor, d: tf.Tensor) => {
      const losses = head.loss(
        [{ clsScores: c as tf.Tensor3D, boxDeltas: d as tf.Tensor3D, priors }],
        { gtBoxes: [gtBoxes], gtLabels: [gtLabels], gtIgnoreBoxes: [dropped] },
        shapes,
      );
      return tf.addN(Object.values(losses)) as tf.Scalar;
    })([cls, deltas]);
    return Array.from(
      tf.add(tf.sum(tf.abs(dCls!), [0, 2]), tf.sum(tf.abs(dDeltas!), [0, 2])).dataSync(),
    );
  });
}

function heads(ignoreIofThreshold: number | undefined): Record<'retina' | 'rpn', AnchorHead> {
  const options = { inChannels: 4, featChannels: 4, strides: [16] };
  const anchors = { ratios: [1], scales: [1] };
  return withInitializerSeed(0, () => ({
    retina: createRetinaHead({
      store: new ParameterStore(),
      numClasses: 2,
      stackedConvs: 1,
      anchors,
      ...options,
      ...(ignoreIofThreshold === undefined
        ? {}
        : {
            assigner: new MaxIoUAssigner({
              posIouThreshold: 0.5,
              negIouThreshold: 0.4,
              ignoreIofThreshold,
            }),
          }),
    }),
    rpn: createRpnHead({
      store: new ParameterStore(),
      anchors,
      ...options,
      ...(ignoreIofThreshold === undefined
        ? {}
        : {
            assigner: new MaxIoUAssigner({
              posIouThreshold: 0.7,
              negIouThreshold: 0.3,
              minPosIou: 0.3,
              ignoreIofThreshold,
            }),
          }),
    }),
  }));
}

describe('ignore boxes (MetaAnchor "drop", COCO crowd) in the dense heads', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('the default assigners honour ignore boxes at IoF > 0.5', () => {
    expect(retinaAssigner().ignoreIofThreshold).toBe(0.5);
    expect(rpnAssigner().ignoreIofThreshold).toBe(0.5);
  });

  for (const name of ['retina', 'rpn'] as const) {
    it(`${name}: anchors whose best match is a dropped box get no loss, with and without other gts`, () => {
      const kept = tf.tensor2d([[48, 48, 64, 64]]);
      const label = tf.tensor1d([0], 'int32');
      const none = tf.zeros([0, 4]) as tf.Tensor2D;
      const noLabels = tf.zeros([0], 'int32') as tf.Tensor1D;
      const head = heads(undefined)[name];
      const before = tf.memory().numTensors;
      const withGt = gradientPerAnchor(head, kept, label);
      const alone = gradientPerAnchor(head, none, noLabels);
      expect(tf.memory().numTensors).toBe(before);
      for (const gradient of [withGt, alone]) {
        for (const k of covered) expect(gradient[k], `anchor ${k}`).toBe(0);
      }
      // The kept object's anchor (15) learns; the RetinaNet head trains every other anchor
      // as background (RPN samples 256 of 16, so every non-ignored anchor too).
      expect(withGt[15]).toBeGreaterThan(0);
      for (const k of [2, 3, 8, 10, 12]) {
        expect(withGt[k], `anchor ${k}`).toBeGreaterThan(0);
        expect(alone[k], `anchor ${k}`).toBeGreaterThan(0);
      }
      // Off (mmdetection's default −1): the dropped object trains as background.
      const off = gradientPerAnchor(heads(-1)[name], none, noLabels);
      for (const k of covered) expect(off[k], `anchor ${k}`).toBeGreaterThan(0);
      tf.dispose([kept, label, none, noLabels]);
    });
  }
});
