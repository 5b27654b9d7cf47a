import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { withInitializerSeed } from '../nn/initializers';
import { Conv2d, Linear } from '../nn/layers';
import { ParameterStore } from '../nn/parameter-store';
import { initBackend } from './init-backend';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('training a small conv net on wasm', () => {
  it('lowers the loss and leaks no tensors over repeated steps', () => {
    const store = new ParameterStore();
    const conv1 = withInitializerSeed(
      1,
      () =>
        new Conv2d(store.scope('conv1'), {
          inChannels: 3,
          outChannels: 8,
          kernelSize: 3,
          stride: 2,
          padding: 1,
        }),
    );
    const conv2 = withInitializerSeed(
      2,
      () =>
        new Conv2d(store.scope('conv2'), {
          inChannels: 8,
          outChannels: 16,
          kernelSize: 3,
          padding: 2,
          dilation: 2,
        }),
    );
    const fc = withInitializerSeed(
      3,
      () => new Linear(store.scope('fc'), { inFeatures: 16, outFeatures: 4 }),
    );
    // Learnable: each class shifts the noise by its own colour.
    const classes = [0, 1, 2, 3, 0, 1, 2, 3];
    const colours = [
      [1.5, 0, 0],
      [0, 1.5, 0],
      [0, 0, 1.5],
      [-1, -1, -1],
    ];
    const shift = tf.tensor4d(
      classes.flatMap((k) => colours[k]!),
      [8, 1, 1, 3],
    );
    const images = tf.add(
      tf.randomNormal([8, 16, 16, 3], 0, 1, 'float32', 11),
      shift,
    ) as tf.Tensor4D;
    shift.dispose();
    const labels = tf.oneHot(tf.tensor1d(classes, 'int32'), 4);
    // A gather on the path exercises the GatherV2 override too.
    const order = tf.tensor1d([7, 6, 5, 4, 3, 2, 1, 0], 'int32');
    const optimizer = tf.train.momentum(0.05, 0.9);
    const lossFn = () => {
      const x = tf.relu(conv2.apply(tf.relu(conv1.apply(images))));
      const logits = fc.apply(tf.mean(x, [1, 2]) as tf.Tensor2D);
      return tf.losses.softmaxCrossEntropy(
        tf.gather(labels, order),
        tf.gather(logits, order),
      ) as tf.Scalar;
    };
    const losses: number[] = [];
    let tensorsAfterFirst = 0;
    for (let step = 0; step < 40; step++) {
      const loss = optimizer.minimize(lossFn, true, store.trainableVariables());
      losses.push(loss!.dataSync()[0] as number);
      loss!.dispose();
      if (step === 1) tensorsAfterFirst = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[0]).toBeGreaterThan(1.2);
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
    optimizer.dispose();
    store.dispose();
    tf.dispose([images, labels, order]);
  });
});
