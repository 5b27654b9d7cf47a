import * as tf from '@tensorflow/tfjs-core';
import type { Size2D } from '../types/box-format';
import { unstackBoxes } from './box-format';
import { assertBoxesLastAxis } from './validate-boxes';

function assertSize(size: Size2D, where: string): void {
  const [height, width] = size;
  if (!(Number.isFinite(height) && Number.isFinite(width) && height >= 0 && width >= 0)) {
    throw new Error(
      `${where}: size must be [height, width] of finite numbers ≥ 0, got [${size.join(', ')}]`,
    );
  }
}

/**
 * Clips `[..., 4]` xyxy boxes to `[0, width] × [0, height]` (torchvision's
 * `clip_boxes_to_image`). Differentiable inside the image (ClipByValue's gradient).
 */
export function clipBoxes(boxes: tf.Tensor, size: Size2D): tf.Tensor {
  assertBoxesLastAxis(boxes, 'clipBoxes', 'boxes');
  assertSize(size, 'clipBoxes');
  const [height, width] = size;
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = unstackBoxes(boxes);
    return tf.stack(
      [
        tf.clipByValue(x1, 0, width),
        tf.clipByValue(y1, 0, height),
        tf.clipByValue(x2, 0, width),
        tf.clipByValue(y2, 0, height),
      ],
      boxes.rank - 1,
    );
  });
}
