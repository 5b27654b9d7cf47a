import { initBackend, ParameterStore } from '@det/core';
import { createRetinaHead, createRpnHead, disposeLevelOutputs } from '@det/heads';
import { binaryCrossEntropyWithLogits } from '@det/losses';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { guidedAnchorFunction } from './guided-anchor-function';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const strides = [8, 16];
const channels = 8;

describe('Guided Anchoring through the heads’ anchor-function seam', () => {
  it.each(['retina', 'rpn'] as const)(
    '%s head: trains one step with and without boxes, then predicts sparsely',
    (kind) => {
      const store = new ParameterStore();
      const anchorFunction = guidedAnchorFunction({
        squareScale: kind === 'retina' ? 4 : 8,
        deltaStd: 0.14,
      });
      const common = {
        store,
        strides,
        inChannels: channels,
        featChannels: channels,
        anchorFunction,
      };
      const head =
        kind === 'retina'
          ? createRetinaHead({ ...common, numClasses: 3, stackedConvs: 1 })
          : createRpnHead({
              ...common,
              // @det/heads' default sigmoidClassificationLoss calls tf.oneHot with depth 1, which
              // tfjs refuses (reported): objectness as BCE on label 0 (foreground) instead.
              clsLoss: (logits, labels, weights) =>
                tf.tidy(() => {
                  const target = tf.cast(tf.equal(tf.reshape(labels, [-1, 1]), 0), 'float32');
                  return binaryCrossEntropyWithLogits(logits, target, {
                    weight: weights,
                    reduction: 'sum',
                  }) as tf.Scalar;
                }),
            });
      const features = strides.map(
        (s, level) =>
          tf.randomNormal([2, 64 / s, 64 / s, channels], 0, 1, 'float32', level) as tf.Tensor4D,
      );
      const targets = {
        gtBoxes: [
          tf.tensor2d([
            [4, 6, 30, 40],
            [20, 20, 60, 52],
          ]),
          tf.zeros([0, 4]) as tf.Tensor2D,
        ],
        gtLabels: [tf.tensor1d([0, 2], 'int32'), tf.zeros([0], 'int32') as tf.Tensor1D],
      };
      const imageShapes = [
        [64, 64],
        [64, 64],
      ] as const;
      const before = tf.memory().numTensors;
      let names: string[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const outputs = head.forward(features, { training: true });
        const losses = head.loss(outputs, targets, imageShapes);
        names = Object.keys(losses).sort();
        return Object.values(losses).reduce((a, b) => tf.add(a, b)) as tf.Scalar;
      }, store.trainableVariables());
      expect(names).toEqual(
        kind === 'retina'
          ? ['loss_bbox', 'loss_cls', 'loss_loc', 'loss_shape']
          : ['loss_loc', 'loss_rpn_bbox', 'loss_rpn_cls', 'loss_shape'],
      );
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      const adaption = store.entries().find((e) => e.name.includes('conv_adaption'));
      const adaptionGrad = grads[adaption?.variable.name as string];
      expect(adaptionGrad && Array.from(adaptionGrad.dataSync()).some((v) => v !== 0)).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);

      const outputs = head.forward(features, { training: false });
      expect(
        outputs.every((o) => o.evaluated?.shape.join() === [2, o.priors.shape[1]].join()),
      ).toBe(true);
      // Not run here: @det/heads' post-processing (`imageRows` in post-process.ts) returns the whole
      // rank-2 `evaluated` [B, N] instead of image `b`'s row, so predict/proposals fail for B > 1
      // whenever `evaluated` is set (reported to the heads owner).
      const kept = outputs.map((o) => (o.evaluated as tf.Tensor2D).shape[1]);
      expect(kept).toEqual(strides.map((s) => (64 / s) ** 2));
      disposeLevelOutputs(outputs);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([...features, ...targets.gtBoxes, ...targets.gtLabels]);
    },
  );
});
