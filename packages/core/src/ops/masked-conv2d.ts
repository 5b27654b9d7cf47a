import * as tf from '@tensorflow/tfjs-core';
import { assertRank, type ConvPadding, convGeometry, type SpatialPair } from './conv-geometry';

/**
 * Mask density (kept / all output positions) from which the dense conv is used. Measured by
 * bench/ops.bench.ts on wasm, 1 thread, [2, 64, 64, 256] → 256, 3×3: sparse 31 / 129 / 276 /
 * 366 / 487 ms CPU at 5 / 30 / 70 / 90 / 100 %, dense ~380 ms: the two cross at ≈ 90 %.
 */
export const maskedConv2dDenseAbove = 0.9;

export interface MaskedConv2dOptions {
  /** Conv strides (default 1). */
  strides?: SpatialPair;
  /** Zero padding (default 'same', as GA's 3×3 feature adaption keeps the map size). */
  pad?: ConvPadding;
  /** Filter dilation (default 1). */
  dilations?: SpatialPair;
  /** Per-output-channel bias [O], added at masked positions only. */
  bias?: tf.Tensor1D;
  /** Use the dense conv when the mask density is at least this (default `maskedConv2dDenseAbove`). */
  denseAbove?: number;
}

const where = 'maskedConv2d';

/**
 * Convolution evaluated only at the output positions where `mask` [B, Ho, Wo] (or
 * [B, Ho, Wo, 1]) is non-zero, zeros elsewhere: Guided Anchoring's sparse inference (§3.4,
 * only locations with p > εL are convolved; mmcv's CUDA-only, batch-1 `masked_conv2d`).
 * Any batch size and stride. Sparse path: im2col of the kept positions only (one gather of
 * their kh·kw neighbourhoods, gatherND row copies), one matMul, scatter back; above `denseAbove` density it
 * runs the dense conv and masks it. Inference only (reads the kept count back).
 */
export function maskedConv2d(
  input: tf.Tensor4D,
  filter: tf.Tensor4D,
  mask: tf.Tensor,
  options: MaskedConv2dOptions = {},
): tf.Tensor4D {
  assertRank(input, 4, `${where} input`);
  assertRank(filter, 4, `${where} filter`);
  const [batch, , , channels] = input.shape;
  const [kh, kw, filterChannels, outChannels] = filter.shape;
  if (filterChannels !== channels) {
    throw new Error(
      `${where}: filter [kh, kw, C, O] has C=${filterChannels}, input has ${channels} channels`,
    );
  }
  const pad = options.pad ?? 'same';
  const geometry = convGeometry(
    input.shape,
    filter.shape,
    { strides: options.strides ?? 1, pad, dilations: options.dilations ?? 1 },
    where,
  );
  const { outHeight, outWidth } = geometry;
  const maskShape = mask.rank === 4 ? mask.shape.slice(0, 3) : mask.shape;
  if (
    (mask.rank !== 3 && !(mask.rank === 4 && mask.shape[3] === 1)) ||
    maskShape.join() !== [batch, outHeight, outWidth].join()
  ) {
    throw new Error(
      `${where}: mask must be [B, Ho, Wo] = [${[batch, outHeight, outWidth].join(', ')}] (or with a trailing 1), got [${mask.shape.join(', ')}]`,
    );
  }
  if (options.bias !== undefined && options.bias.shape.join() !== String(outChannels)) {
    throw new Error(
      `${where}: bias must be [${outChannels}], got [${options.bias.shape.join(', ')}]`,
    );
  }
  const denseAbove = options.denseAbove ?? maskedConv2dDenseAbove;
  const positions = batch * outHeight * outWidth;

  return tf.tidy(() => {
    const keep = tf.cast(tf.notEqual(tf.reshape(mask, [positions]), 0), 'float32');
    const kept = positions === 0 ? 0 : (tf.sum(keep).dataSync()[0] ?? 0);
    if (kept === 0) return tf.zeros([batch, outHeight, outWidth, outChannels]) as tf.Tensor4D;
    if (kept / positions >= denseAbove) {
      const padding: tf.backend_util.ExplicitPadding = [
        [0, 0],
        [geometry.top, geometry.bottom],
        [geometry.left, geometry.right],
        [0, 0],
      ];
      const dense = tf.conv2d(
        input,
        filter,
        [geometry.strideHeight, geometry.strideWidth],
        padding,
        'NHWC',
        [geometry.dilationHeight, geometry.dilationWidth],
      );
      const biased = options.bias ? tf.add(dense, options.bias) : dense;
      return tf.mul(biased, tf.reshape(keep, [batch, outHeight, outWidth, 1])) as tf.Tensor4D;
    }
    // The kept positions in ascending order, without an async `whereAsync`: top-k of
    // keep·(N − index) ranks kept positions first, earliest first.
    const rank = tf.mul(keep, tf.sub(positions, tf.range(0, positions)));
    const { indices: kept1d } = tf.topk(rank, kept, true);
    const padded = tf.pad(input, [
      [0, 0],
      [geometry.top, geometry.bottom],
      [geometry.left, geometry.right],
      [0, 0],
    ]);
    const [, paddedHeight, paddedWidth] = padded.shape;
    const int = (value: number) => tf.scalar(value, 'int32');
    const b = tf.floorDiv(kept1d, int(outHeight * outWidth));
    const rest = tf.mod(kept1d, int(outHeight * outWidth));
    const row = tf.mul(tf.floorDiv(rest, int(outWidth)), int(geometry.strideHeight));
    const col = tf.mul(tf.mod(rest, int(outWidth)), int(geometry.strideWidth));
    const corner = tf.add(tf.mul(tf.add(tf.mul(b, int(paddedHeight)), row), int(paddedWidth)), col);
    const taps: number[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        taps.push(i * geometry.dilationHeight * paddedWidth + j * geometry.dilationWidth);
      }
    }
    const neighbourhoods = tf.add(
      tf.reshape(corner, [kept, 1]),
      tf.tensor2d(taps, [1, taps.length], 'int32'),
    );
    const flat = tf.reshape(padded, [batch * paddedHeight * paddedWidth, channels]);
    const columns = tf.reshape(tf.gatherND(flat, tf.reshape(neighbourhoods, [-1, 1])), [
      kept,
      kh * kw * channels,
    ]);
    const values = tf.matMul(columns, tf.reshape(filter, [kh * kw * channels, outChannels]));
    const biased = options.bias ? tf.add(values, options.bias) : values;
    const out = tf.scatterND(tf.reshape(kept1d, [kept, 1]), biased, [positions, outChannels]);
    return tf.reshape(out, [batch, outHeight, outWidth, outChannels]) as tf.Tensor4D;
  });
}
