// Backend smoke run: prints the backend det chose and times one training step of a small
// conv net on it. `DET_BACKEND=cpu node scripts/smoke.mjs` forces a backend.

import { Conv2d, initBackend, Linear, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

const info = await initBackend();
console.log(`backend: ${info.name} ${info.version} on ${info.device}, ${info.threads} thread(s)`);
if (info.gradientOverrides.length > 0)
  console.log(`gradient overrides: ${info.gradientOverrides.join(', ')}`);
const store = new ParameterStore();
const conv = new Conv2d(store.scope('conv'), {
  inChannels: 3,
  outChannels: 16,
  kernelSize: 3,
  stride: 2,
  padding: 1,
});
const fc = new Linear(store.scope('fc'), { inFeatures: 16, outFeatures: 10 });
const images = tf.randomNormal([4, 64, 64, 3]);
const labels = tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10);
const optimizer = tf.train.sgd(0.1);
const start = performance.now();
const loss = optimizer.minimize(
  () =>
    tf.losses.softmaxCrossEntropy(labels, fc.apply(tf.mean(tf.relu(conv.apply(images)), [1, 2]))),
  true,
  store.trainableVariables(),
);
console.log(
  `one training step: loss ${loss.dataSync()[0].toFixed(4)} in ${(performance.now() - start).toFixed(0)} ms`,
);
