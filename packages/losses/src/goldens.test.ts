import { readFileSync } from 'node:fs';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { binaryCrossEntropyWithLogits } from './binary-cross-entropy';
import { boundedIouLoss, boundedIouShapeLoss } from './bounded-iou-loss';
import { giouLoss, iouLoss } from './iou-loss';
import { sigmoidFocalLoss } from './sigmoid-focal-loss';
import { l1Loss, smoothL1Loss } from './smooth-l1-loss';
import { softmaxCrossEntropy } from './softmax-cross-entropy';
import { expectClose, values } from './test-helpers';

interface Encoded {
  shape: number[];
  data: number[];
}
interface GoldenCase {
  name: string;
  options: Record<string, unknown>;
  pred: Encoded;
  target: Encoded;
  weight?: Encoded;
  expected: Encoded;
  upstream: Encoded;
  gradPred: Encoded;
}
interface Goldens {
  cases: Record<string, GoldenCase[]>;
}

// Written by scripts/fixtures/losses.py from torch 1.13 / torchvision 0.14.
const goldens = JSON.parse(
  readFileSync(new URL('./__fixtures__/losses.json', import.meta.url), 'utf8'),
) as Goldens;

/** float32 on wasm against torch in float64, loss values and gradients alike. */
const goldenTolerance = { atol: 1e-5, rtol: 1e-4 };

type Loss = (pred: tf.Tensor, target: tf.Tensor, options: never) => tf.Tensor;
const losses: Record<string, { loss: Loss; intTarget?: boolean }> = {
  sigmoidFocalLoss: { loss: sigmoidFocalLoss as Loss },
  sigmoidFocalLossLabels: { loss: sigmoidFocalLoss as Loss, intTarget: true },
  binaryCrossEntropyWithLogits: { loss: binaryCrossEntropyWithLogits as Loss },
  softmaxCrossEntropy: { loss: softmaxCrossEntropy as Loss, intTarget: true },
  smoothL1Loss: { loss: smoothL1Loss as Loss },
  l1Loss: { loss: l1Loss as Loss },
  iouLoss: { loss: iouLoss as Loss },
  giouLoss: { loss: giouLoss as Loss },
  boundedIouLoss: { loss: boundedIouLoss as Loss },
  boundedIouShapeLoss: { loss: boundedIouShapeLoss as Loss },
};

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('goldens from torch / torchvision', () => {
  it('covers every loss', () => {
    expect(Object.keys(goldens.cases).sort()).toEqual(Object.keys(losses).sort());
  });

  for (const [lossName, cases] of Object.entries(goldens.cases)) {
    const entry = losses[lossName];
    if (entry === undefined) continue;
    for (const golden of cases) {
      it(`${lossName}: ${golden.name}`, () => {
        const before = tf.memory().numTensors;
        const pred = tf.tensor(golden.pred.data, golden.pred.shape, 'float32');
        const target = tf.tensor(
          golden.target.data,
          golden.target.shape,
          entry.intTarget ? 'int32' : 'float32',
        );
        const weight =
          golden.weight && tf.tensor(golden.weight.data, golden.weight.shape, 'float32');
        const upstream = tf.tensor(golden.upstream.data, golden.upstream.shape, 'float32');
        const options = { ...golden.options, ...(weight ? { weight } : {}) } as never;

        const out = entry.loss(pred, target, options);
        expect(out.shape).toEqual(golden.expected.shape);
        expectClose(values(out), golden.expected.data, { ...goldenTolerance, label: 'loss' });

        const gradient = tf.grad((x: tf.Tensor) =>
          tf.sum(tf.mul(entry.loss(x, target, options), upstream)),
        )(pred);
        expectClose(values(gradient), golden.gradPred.data, {
          ...goldenTolerance,
          label: 'd loss / d pred',
        });

        tf.dispose([pred, target, upstream, ...(weight ? [weight] : [])]);
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }

  it("sigmoidFocalLoss defaults are torchvision's α = 0.25, γ = 2", () => {
    const golden = goldens.cases.sigmoidFocalLoss!.find(
      (c) => c.options.alpha === 0.25 && c.options.gamma === 2 && c.options.reduction === 'sum',
    )!;
    expect(golden).toBeDefined();
    const pred = tf.tensor(golden.pred.data, golden.pred.shape, 'float32');
    const target = tf.tensor(golden.target.data, golden.target.shape, 'float32');
    const out = sigmoidFocalLoss(pred, target, { reduction: 'sum' });
    expectClose(values(out), golden.expected.data, { ...goldenTolerance, label: 'loss' });
    tf.dispose([pred, target]);
  });
});
