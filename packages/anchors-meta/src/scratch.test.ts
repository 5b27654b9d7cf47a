import { initBackend, ParameterStore } from '@det/core';
import { createRetinaHead } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';

it('dense head grads with gt', async () => {
  await initBackend({ backend: 'wasm' });
  const store = new ParameterStore();
  const head = createRetinaHead({ store, numClasses: 3, inChannels: 4, featChannels: 4, stackedConvs: 1, anchors: { strides: [8, 16, 32], ratios: [0.5, 1, 2], octaveBaseScale: 4, scalesPerOctave: 3 } });
  const inputs = [8, 4, 2].map((s) => tf.randomNormal([1, s, s, 4]) as tf.Tensor4D);
  const targets = { gtBoxes: [tf.tensor2d([[4, 6, 30, 50]])], gtLabels: [tf.tensor1d([2], 'int32')] };
  const { value } = tf.variableGrads(() => {
    const outputs = head.forward(inputs, { training: true });
    const losses = head.loss(outputs, targets, [[64, 64]]);
    console.log(Object.keys(losses)); return losses.loss_bbox as tf.Scalar;
  }, store.trainableVariables());
  console.log(value.dataSync());
});
