import * as tf from '@tensorflow/tfjs-core';

/** A value for both spatial axes, or `[height, width]`. */
export type SpatialPair = number | [number, number];

/** Zero padding: symmetric `[padHeight, padWidth]` (torchvision's `padding`), or tfjs' `'same'` / `'valid'`. */
export type ConvPadding = number | [number, number] | 'same' | 'valid';

export interface ConvGeometry {
  outHeight: number;
  outWidth: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
}

export function spatialPair(value: SpatialPair, where: string): [number, number] {
  const result: [number, number] = typeof value === 'number' ? [value, value] : value;
  if (result.length !== 2 || !result.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(
      `${where}: expected a positive integer or [height, width], got ${JSON.stringify(value)}`,
    );
  }
  return result;
}

/** Output size and top/left padding of an NHWC conv, as tfjs' conv2d computes them. */
export function convGeometry(
  inputShape: readonly number[],
  filterShape: readonly number[],
  options: { strides: SpatialPair; pad: ConvPadding; dilations: SpatialPair },
  where: string,
): ConvGeometry {
  const strides = spatialPair(options.strides, `${where} strides`);
  const dilations = spatialPair(options.dilations, `${where} dilations`);
  let pad: number | 'same' | 'valid' | tf.backend_util.ExplicitPadding;
  if (typeof options.pad === 'number' || typeof options.pad === 'string') {
    pad = options.pad;
  } else {
    const [padHeight, padWidth] = options.pad;
    pad = [
      [0, 0],
      [padHeight, padHeight],
      [padWidth, padWidth],
      [0, 0],
    ];
  }
  if (typeof options.pad === 'number' && (!Number.isInteger(options.pad) || options.pad < 0)) {
    throw new Error(`${where} pad: expected a non-negative integer, got ${options.pad}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
  );
  return {
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    top: info.padInfo.top,
    bottom: info.padInfo.bottom,
    left: info.padInfo.left,
    right: info.padInfo.right,
    strideHeight: strides[0],
    strideWidth: strides[1],
    dilationHeight: dilations[0],
    dilationWidth: dilations[1],
  };
}

export function assertRank(tensor: tf.Tensor, rank: number, where: string): void {
  if (tensor.rank !== rank) {
    throw new Error(
      `${where}: expected a rank-${rank} tensor, got shape [${tensor.shape.join(', ')}]`,
    );
  }
}
