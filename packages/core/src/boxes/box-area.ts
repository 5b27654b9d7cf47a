import * as tf from '@tensorflow/tfjs-core';
import { unstackBoxes } from './box-format';
import { assertBoxesLastAxis } from './validate-boxes';

/** Area `(x2 − x1)·(y2 − y1)` of `[..., 4]` xyxy boxes, without detectron1's +1 (torchvision's `box_area`). */
export function boxArea(boxes: tf.Tensor): tf.Tensor {
  assertBoxesLastAxis(boxes, 'boxArea', 'boxes');
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = unstackBoxes(boxes);
    return tf.mul(tf.sub(x2, x1), tf.sub(y2, y1));
  });
}
