// The DESIGN.md reference conv net (≈1.8 M parameters) in plain tfjs ops, shared by the
// training test's smaller sibling and the step-time benchmark. NHWC, 3×3 convs, PyTorch padding.
import * as tf from '@tensorflow/tfjs-core';

/** [inChannels, outChannels, stride] of each 3×3 conv; GAP + linear to 10 classes follow. */
export const referenceLayers = [
  [3, 32, 2],
  [32, 64, 2],
  [64, 64, 1],
  [64, 128, 2],
  [128, 128, 1],
  [128, 256, 2],
  [256, 256, 1],
  [256, 256, 1],
];

export function createReferenceNet(seed = 1) {
  const params = [];
  referenceLayers.forEach(([cin, cout], i) => {
    const bound = 1 / Math.sqrt(9 * cin);
    params.push(
      tf.variable(tf.randomUniform([3, 3, cin, cout], -bound, bound, 'float32', seed + i)),
    );
    params.push(tf.variable(tf.zeros([cout])));
  });
  params.push(tf.variable(tf.randomUniform([256, 10], -1 / 16, 1 / 16, 'float32', seed + 99)));
  params.push(tf.variable(tf.zeros([10])));
  const forward = (images) => {
    let x = images;
    referenceLayers.forEach(([, , stride], i) => {
      x = tf.relu(
        tf.add(
          tf.conv2d(x, params[2 * i], stride, [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ]),
          params[2 * i + 1],
        ),
      );
    });
    const pooled = tf.mean(x, [1, 2]);
    return tf.add(tf.matMul(pooled, params[params.length - 2]), params[params.length - 1]);
  };
  const count = params.reduce((sum, p) => sum + p.size, 0);
  return { params, forward, count };
}
