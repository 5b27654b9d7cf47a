import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import {
  boundedIouLoss,
  boundedIouShapeLoss,
  giouLoss,
  iouLoss,
  sigmoidFocalLoss,
  smoothL1Loss,
  softmaxCrossEntropy,
} from '../src/index';

// One RetinaNet-sized image: ~20k anchors (P3–P7 at 320 px, 9 anchors), 80 classes;
// Faster R-CNN's RoI head: 512 RoIs, 81 classes. Forward + backward, as in a train step.
await initBackend({ backend: 'wasm' });

const anchors = 20_000;
const classes = 80;
const logits = tf.randomNormal([anchors, classes], 0, 3, 'float32', 1);
const labels = tf.randomUniform([anchors], 0, classes + 1, 'int32', 2);
const anchorWeight = tf.ones([anchors]);
const xy = tf.randomUniform([anchors, 2], 0, 300, 'float32', 3);
const wh = tf.randomUniform([anchors, 2], 4, 120, 'float32', 4);
const boxes = tf.concat([xy, tf.add(xy, wh)], 1);
const targets = tf.add(boxes, tf.randomUniform([anchors, 4], -3, 3, 'float32', 5));
const targetWh = tf.mul(wh, tf.randomUniform([anchors, 2], 0.6, 1.6, 'float32', 6));
const roiLogits = tf.randomNormal([512, 81], 0, 2, 'float32', 7);
const roiLabels = tf.randomUniform([512], 0, 81, 'int32', 8);

function step(loss: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): void {
  const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => loss(input) as tf.Scalar)(x);
  value.dataSync();
  tf.dispose([value, grad]);
}

const options = { time: 2000, iterations: 5 };

describe(`forward + backward, wasm, ${anchors} anchors`, () => {
  bench(
    `sigmoidFocalLoss [${anchors},${classes}]`,
    () =>
      step((x) => sigmoidFocalLoss(x, labels, { weight: anchorWeight, avgFactor: 100 }), logits),
    options,
  );
  bench(
    `smoothL1Loss [${anchors},4]`,
    () => step((x) => smoothL1Loss(x, targets, { beta: 1 / 9 }), boxes),
    options,
  );
  bench(`iouLoss [${anchors},4]`, () => step((x) => iouLoss(x, targets), boxes), options);
  bench(`giouLoss [${anchors},4]`, () => step((x) => giouLoss(x, targets), boxes), options);
  bench(
    `boundedIouLoss [${anchors},4]`,
    () => step((x) => boundedIouLoss(x, targets), boxes),
    options,
  );
  bench(
    `boundedIouShapeLoss [${anchors},2]`,
    () => step((x) => boundedIouShapeLoss(x, targetWh), wh),
    options,
  );
  bench(
    'softmaxCrossEntropy [512,81]',
    () => step((x) => softmaxCrossEntropy(x, roiLabels), roiLogits),
    options,
  );
});
