import * as tf from '@tensorflow/tfjs-core';
import type { BoxFormat } from '../types/box-format';
import { assertBoxesLastAxis } from './validate-boxes';

const formats: readonly BoxFormat[] = ['xyxy', 'xywh', 'cxcywh'];

/** The four coordinates along the last axis, each of shape `[...]` (differentiable: Unpack). */
export function unstackBoxes(boxes: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] {
  const [a, b, c, d] = tf.unstack(boxes, boxes.rank - 1);
  return [a!, b!, c!, d!];
}

function toXyxy(boxes: tf.Tensor, from: BoxFormat): tf.Tensor {
  if (from === 'xyxy') return tf.clone(boxes);
  const [a, b, c, d] = unstackBoxes(boxes);
  if (from === 'xywh') return tf.stack([a, b, tf.add(a, c), tf.add(b, d)], boxes.rank - 1);
  // Same expression as torchvision's _box_cxcywh_to_xyxy.
  const halfW = tf.mul(0.5, c);
  const halfH = tf.mul(0.5, d);
  return tf.stack(
    [tf.sub(a, halfW), tf.sub(b, halfH), tf.add(a, halfW), tf.add(b, halfH)],
    boxes.rank - 1,
  );
}

function fromXyxy(boxes: tf.Tensor, to: BoxFormat): tf.Tensor {
  if (to === 'xyxy') return tf.clone(boxes);
  const [x1, y1, x2, y2] = unstackBoxes(boxes);
  const w = tf.sub(x2, x1);
  const h = tf.sub(y2, y1);
  if (to === 'xywh') return tf.stack([x1, y1, w, h], boxes.rank - 1);
  return tf.stack([tf.div(tf.add(x1, x2), 2), tf.div(tf.add(y1, y2), 2), w, h], boxes.rank - 1);
}

/**
 * Converts `[..., 4]` boxes between layouts (torchvision's `box_convert`). Returns a new
 * tensor, differentiable; empty inputs give empty outputs.
 */
export function convertBoxes(boxes: tf.Tensor, from: BoxFormat, to: BoxFormat): tf.Tensor {
  for (const [field, value] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (!formats.includes(value)) {
      throw new Error(
        `convertBoxes: ${field} must be one of ${formats.join(' | ')}, got '${value}'`,
      );
    }
  }
  assertBoxesLastAxis(boxes, 'convertBoxes', 'boxes');
  if (from === to) return tf.clone(boxes);
  return tf.tidy(() => {
    const xyxy = toXyxy(boxes, from);
    return to === 'xyxy' ? xyxy : fromXyxy(xyxy, to);
  });
}
