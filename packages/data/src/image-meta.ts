import * as tf from '@tensorflow/tfjs-core';

/**
 * Where an image came from and what the transforms did to it, so boxes predicted on the
 * network input can be mapped back to the original image (`boxesToOriginal`).
 *
 * Coordinate frames: "original" is the decoded, EXIF-upright file; "input" is after resize
 * (and flip), `width × height`; padding only adds pixels right/bottom, so input coordinates
 * are also coordinates in the padded tensor.
 */
export interface ImageMeta {
  imageId: number;
  filePath: string;
  originalWidth: number;
  originalHeight: number;
  /** Size after resizing, before padding. */
  width: number;
  height: number;
  /** `width / originalWidth` and `height / originalHeight` (mmdetection's w_scale, h_scale). */
  scaleX: number;
  scaleY: number;
  /** Whether the image (and its boxes) were mirrored left-right. */
  flipped: boolean;
  /** Size of the padded tensor this image sits in (top-left aligned). */
  paddedWidth: number;
  paddedHeight: number;
}

/** A fresh meta for an image that has not been transformed. */
export function initialImageMeta(
  imageId: number,
  filePath: string,
  width: number,
  height: number,
): ImageMeta {
  return {
    imageId,
    filePath,
    originalWidth: width,
    originalHeight: height,
    width,
    height,
    scaleX: 1,
    scaleY: 1,
    flipped: false,
    paddedWidth: width,
    paddedHeight: height,
  };
}

/** Scales flat xyxy boxes. Returns a new array. */
export function scaleBoxes(boxes: Float32Array, scaleX: number, scaleY: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let offset = 0; offset < boxes.length; offset += 4) {
    out[offset] = boxes[offset]! * scaleX;
    out[offset + 1] = boxes[offset + 1]! * scaleY;
    out[offset + 2] = boxes[offset + 2]! * scaleX;
    out[offset + 3] = boxes[offset + 3]! * scaleY;
  }
  return out;
}

/**
 * Mirrors flat xyxy boxes in an image of the given width: x → width − x (continuous pixel
 * coordinates, as mmdetection ≥ 2.0 does), swapping x0 and x1. Flipping twice is the identity.
 */
export function flipBoxes(boxes: Float32Array, width: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let offset = 0; offset < boxes.length; offset += 4) {
    out[offset] = width - boxes[offset + 2]!;
    out[offset + 1] = boxes[offset + 1]!;
    out[offset + 2] = width - boxes[offset]!;
    out[offset + 3] = boxes[offset + 3]!;
  }
  return out;
}

/** Maps flat xyxy boxes from the original image to the network input described by `meta`. */
export function boxesToInput(boxes: Float32Array, meta: ImageMeta): Float32Array {
  const scaled = scaleBoxes(boxes, meta.scaleX, meta.scaleY);
  // Flip commutes with resizing because width = scaleX · originalWidth exactly.
  return meta.flipped ? flipBoxes(scaled, meta.width) : scaled;
}

/**
 * Maps flat xyxy boxes predicted on the network input back to the original image: undo the
 * flip, divide by the scale, and (by default) clip to the original image.
 */
export function boxesToOriginal(
  boxes: Float32Array,
  meta: ImageMeta,
  options: { clip?: boolean } = {},
): Float32Array {
  const unflipped = meta.flipped ? flipBoxes(boxes, meta.width) : boxes;
  const out = scaleBoxes(unflipped, 1 / meta.scaleX, 1 / meta.scaleY);
  if (options.clip ?? true) {
    for (let offset = 0; offset < out.length; offset += 4) {
      out[offset] = Math.min(Math.max(out[offset]!, 0), meta.originalWidth);
      out[offset + 1] = Math.min(Math.max(out[offset + 1]!, 0), meta.originalHeight);
      out[offset + 2] = Math.min(Math.max(out[offset + 2]!, 0), meta.originalWidth);
      out[offset + 3] = Math.min(Math.max(out[offset + 3]!, 0), meta.originalHeight);
    }
  }
  return out;
}

/** `boxesToOriginal` on a [N, 4] tensor; the caller owns the result. */
export function boxesToOriginalTensor(
  boxes: tf.Tensor2D,
  meta: ImageMeta,
  options: { clip?: boolean } = {},
): tf.Tensor2D {
  return tf.tidy(() => {
    let [x0, y0, x1, y1] = tf.split(boxes, 4, 1) as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
    ];
    if (meta.flipped) [x0, x1] = [tf.sub(meta.width, x1), tf.sub(meta.width, x0)];
    x0 = tf.div(x0, meta.scaleX);
    x1 = tf.div(x1, meta.scaleX);
    y0 = tf.div(y0, meta.scaleY);
    y1 = tf.div(y1, meta.scaleY);
    if (options.clip ?? true) {
      x0 = tf.clipByValue(x0, 0, meta.originalWidth);
      x1 = tf.clipByValue(x1, 0, meta.originalWidth);
      y0 = tf.clipByValue(y0, 0, meta.originalHeight);
      y1 = tf.clipByValue(y1, 0, meta.originalHeight);
    }
    return tf.concat([x0, y0, x1, y1], 1) as tf.Tensor2D;
  });
}
