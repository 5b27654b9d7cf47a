import { AnchorGenerator, type Size2D } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { detach } from './detach';
import { decodeShape, type ShapeDecodeOptions } from './shape-loss';

/** The square anchors `[H·W, 4]` of one level whose centres the guided anchors keep. */
export function levelSquares(featmapSize: Size2D, stride: number, squareScale = 8): tf.Tensor2D {
  const generator = new AnchorGenerator({ strides: [stride], ratios: [1], scales: [squareScale] });
  const [squares] = generator.gridPriors([featmapSize]);
  return squares as tf.Tensor2D;
}

/**
 * One anchor per location (GA §3, "guided anchors"): centred on the level's square anchors,
 * with the predicted `w = σ·s·e^dw`, `h = σ·s·e^dh`. `shapePred` `[B, H, W, 2]` is detached:
 * the classification / regression losses must not train the shape branch through the anchors.
 * Returns `[B, H·W, 4]` xyxy.
 */
export function guidedAnchors(
  shapePred: tf.Tensor4D,
  stride: number,
  options: ShapeDecodeOptions = {},
): tf.Tensor3D {
  const [batch, height, width] = shapePred.shape;
  const squares = levelSquares([height, width], stride, options.squareScale ?? 8);
  const out = tf.tidy(() => {
    const [x1, y1, x2, y2] = tf.split(squares, 4, 1) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const centre = tf.reshape(tf.concat([tf.add(x1, x2), tf.add(y1, y2)], 1), [1, -1, 2]);
    const halfSize = tf.reshape(tf.div(decodeShape(detach(shapePred), stride, options), 2), [
      batch,
      -1,
      2,
    ]);
    const c = tf.div(centre, 2);
    return tf.concat([tf.sub(c, halfSize), tf.add(c, halfSize)], 2) as tf.Tensor3D;
  });
  squares.dispose();
  return out;
}

/**
 * `[B, H, W]` bool: the locations inference evaluates, p = σ(logit) ≥ εL (GA §3.4, mmdetection
 * `loc_filter_thr`, 0.01). Compared in logit space, where σ is monotone.
 */
export function locationMask(locLogits: tf.Tensor4D, threshold: number): tf.Tensor3D {
  if (!(threshold >= 0 && threshold < 1)) {
    throw new Error(`locationMask: threshold must be in [0, 1), got ${threshold}`);
  }
  const [batch, height, width] = locLogits.shape;
  // εL = 0 keeps every location (the paper's Table 5 baseline row).
  if (threshold === 0) return tf.ones([batch, height, width], 'bool') as tf.Tensor3D;
  return tf.tidy(() =>
    tf.greaterEqual(
      tf.reshape(locLogits, [batch, height, width]),
      Math.log(threshold / (1 - threshold)),
    ),
  ) as tf.Tensor3D;
}
