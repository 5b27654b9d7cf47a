import * as tf from '@tensorflow/tfjs-core';
import { hasSyncReadback } from '../backend/readback';
import { bilinearTaps, type DeformConv2dOptions, deformGeometry } from './deform-conv2d';
import { deformColumnsAt, deformTapSampler } from './deform-conv2d-host';

export interface MaskedDeformConv2dOptions extends Omit<DeformConv2dOptions, 'mask'> {
  /** DCNv2 modulation of the kept positions, compact `[N, deformGroups·kh·kw]`. */
  modulation?: tf.Tensor2D;
}

const where = 'maskedDeformConv2d';

/**
 * The flat output positions (b·Ho·Wo + y·Wo + x, ascending) where `mask` [B, Ho, Wo] (or
 * [B, Ho, Wo, 1]) is non-zero: what `maskedDeformConv2d` computes. Reads the mask back
 * asynchronously, so it works on every backend (webgpu in Node has no synchronous read).
 */
export async function keptPositions(mask: tf.Tensor): Promise<Int32Array> {
  if (mask.rank !== 3 && !(mask.rank === 4 && mask.shape[3] === 1)) {
    throw new Error(
      `keptPositions: mask must be [B, H, W] or [B, H, W, 1], got [${mask.shape.join(', ')}]`,
    );
  }
  const values = await mask.data();
  let count = 0;
  for (let i = 0; i < values.length; i += 1) if (values[i] !== 0) count += 1;
  const positions = new Int32Array(count);
  let next = 0;
  for (let i = 0; i < values.length; i += 1) if (values[i] !== 0) positions[next++] = i;
  return positions;
}

/**
 * Compact rows [N, C] back onto the dense grid [B, Ho, Wo, C] at `positions`, zero elsewhere
 * (for callers that need the dense map, e.g. to compare with the dense op).
 */
export function scatterPositions(
  rows: tf.Tensor2D,
  positions: Int32Array,
  gridShape: readonly [number, number, number],
): tf.Tensor4D {
  const [batch, height, width] = gridShape;
  if (rows.shape[0] !== positions.length) {
    throw new Error(`scatterPositions: ${rows.shape[0]} rows for ${positions.length} positions`);
  }
  const channels = rows.shape[1];
  return tf.tidy(() => {
    if (positions.length === 0) return tf.zeros([batch, height, width, channels]) as tf.Tensor4D;
    const indices = tf.tensor2d(positions, [positions.length, 1], 'int32');
    return tf.reshape(tf.scatterND(indices, rows, [batch * height * width, channels]), [
      batch,
      height,
      width,
      channels,
    ]) as tf.Tensor4D;
  });
}

/**
 * Deformable convolution evaluated only at the given output positions (flat indices
 * b·Ho·Wo + y·Wo + x, e.g. `keptPositions` of Guided Anchoring's location mask p ≥ εL):
 * gathers each kept position's sampled columns for every tap, one [N, kh·kw·C] × [kh·kw·C, O]
 * matMul, and returns the compact rows [N, O] — equal to `deformConv2d` at those positions.
 * The offset may be dense [B, Ho, Wo, 2·G·kh·kw] (its kept rows are gathered) or already
 * compact [N, 2·G·kh·kw] (when the offsets were themselves computed only at kept positions).
 * Inference only: no gradient is defined. Cost is linear in N, not in B·Ho·Wo; with N = 0 it
 * does no device work beyond an empty result. `sampling` as `deformConv2d`'s: on host-memory
 * backends (`'auto'`: wasm, cpu) the kept rows are sampled from the host copies of input and
 * offsets (a readback, which there is a copy) — on wasm without modulation by the dense op's
 * own wasm module at the kept positions (sampling and per-tap products in one pass, each row
 * the dense op's bits), else in one typed-array pass and one matMul; elsewhere by tensor ops
 * (no readback).
 */
export function maskedDeformConv2d(
  input: tf.Tensor4D,
  offset: tf.Tensor,
  filter: tf.Tensor4D,
  positions: Int32Array,
  options: MaskedDeformConv2dOptions = {},
): tf.Tensor2D {
  const { batch, height, width, channels, kh, kw, outChannels, groups, geometry, host } =
    deformGeometry(input, filter, options, where);
  const { outHeight, outWidth } = geometry;
  const grid = outHeight * outWidth;
  const taps = kh * kw;
  const count = positions.length;
  for (let n = 0; n < count; n += 1) {
    const p = positions[n] as number;
    if (!(p >= 0 && p < batch * grid) || (n > 0 && p <= (positions[n - 1] as number))) {
      throw new Error(
        `${where}: positions must be ascending flat indices in [0, ${batch * grid}) (B·Ho·Wo), got ${p} at ${n}`,
      );
    }
  }
  const offsetWidth = 2 * groups * taps;
  const dense = offset.rank === 4;
  const expectedOffset = dense ? [batch, outHeight, outWidth, offsetWidth] : [count, offsetWidth];
  if (offset.shape.join() !== expectedOffset.join()) {
    throw new Error(
      `${where}: offset must be [${dense ? 'B, Ho, Wo' : 'N'}, 2·deformGroups·kh·kw] = [${expectedOffset.join(', ')}], got [${offset.shape.join(', ')}]`,
    );
  }
  const modulation = options.modulation;
  if (modulation !== undefined && modulation.shape.join() !== [count, groups * taps].join()) {
    throw new Error(
      `${where}: modulation must be [N, deformGroups·kh·kw] = [${count}, ${groups * taps}], got [${modulation.shape.join(', ')}]`,
    );
  }

  const sampling = options.sampling ?? 'auto';
  const onHost = sampling === 'host' || (sampling === 'auto' && hasSyncReadback(tf.getBackend()));
  if (onHost && count > 0) {
    // Host-memory backends: sample the kept positions' im2col rows in one typed-array pass
    // (reading input and offsets costs a copy there, not a sync), then one matMul.
    const compact = dense
      ? tf.tidy(() =>
          tf.gatherND(
            tf.reshape(offset, [batch * grid, offsetWidth]),
            tf.tensor2d(positions, [count, 1], 'int32'),
          ),
        )
      : offset;
    const inputValues = input.dataSync() as Float32Array;
    const offsetValues = compact.dataSync() as Float32Array;
    if (tf.getBackend() === 'wasm' && modulation === undefined) {
      // The dense conv's own wasm module at the kept positions: each row the dense op's bits.
      const sampler = deformTapSampler(host, inputValues, offsetValues, undefined);
      if (sampler.convolveAt) {
        const rows = sampler.convolveAt(filter.dataSync() as Float32Array, outChannels, positions);
        if (compact !== offset) compact.dispose();
        return tf.tidy(() => {
          const out = tf.tensor2d(rows, [count, outChannels]);
          return (options.bias ? tf.add(out, options.bias) : out) as tf.Tensor2D;
        });
      }
    }
    const columns = deformColumnsAt(
      host,
      inputValues,
      offsetValues,
      modulation?.dataSync(),
      positions,
    );
    if (compact !== offset) compact.dispose();
    return tf.tidy(() => {
      const out = tf.matMul(
        tf.tensor2d(columns, [count, taps * channels]),
        tf.reshape(filter, [taps * channels, outChannels]) as tf.Tensor2D,
      );
      return (options.bias ? tf.add(out, options.bias) : out) as tf.Tensor2D;
    });
  }

  return tf.tidy(() => {
    if (count === 0) return tf.zeros([0, outChannels]) as tf.Tensor2D;
    // Where each kept position samples from before its offsets: host arithmetic, one upload.
    const rowBase = new Float32Array(count);
    const colBase = new Float32Array(count);
    const batchBase = new Int32Array(count);
    for (let n = 0; n < count; n += 1) {
      const p = positions[n] as number;
      const b = Math.floor(p / grid);
      const cell = p - b * grid;
      const y = Math.floor(cell / outWidth);
      rowBase[n] = y * geometry.strideHeight - geometry.top;
      colBase[n] = (cell - y * outWidth) * geometry.strideWidth - geometry.left;
      batchBase[n] = b * height;
    }
    const rows = tf.tensor2d(rowBase, [count, 1]);
    const cols = tf.tensor2d(colBase, [count, 1]);
    const pointBatchBase = tf.tensor2d(batchBase, [count, 1], 'int32');
    const compactOffset = dense
      ? tf.gatherND(
          tf.reshape(offset, [batch * grid, offsetWidth]),
          tf.tensor2d(positions, [count, 1], 'int32'),
        )
      : offset;
    // [K, 2, N, G]: each tap's dy and dx are contiguous slices (torchvision's channel order
    // g·2·K + 2·k + {0: dy, 1: dx}).
    const tapMajor = tf.transpose(
      tf.reshape(compactOffset, [count, groups, taps, 2]),
      [2, 3, 0, 1],
    );
    const tapModulation = modulation
      ? tf.transpose(tf.reshape(modulation, [count, groups, taps]), [2, 0, 1])
      : undefined;
    const flat = tf.reshape(input, [batch * height * width * groups, channels / groups]);
    const columns: tf.Tensor[] = [];
    for (let i = 0; i < kh; i += 1) {
      for (let j = 0; j < kw; j += 1) {
        const k = i * kw + j;
        const dy = tf.reshape(tf.slice(tapMajor, [k, 0, 0, 0], [1, 1, count, groups]), [
          count,
          groups,
        ]);
        const dx = tf.reshape(tf.slice(tapMajor, [k, 1, 0, 0], [1, 1, count, groups]), [
          count,
          groups,
        ]);
        const y = tf.add(tf.add(rows, i * geometry.dilationHeight), dy);
        const x = tf.add(tf.add(cols, j * geometry.dilationWidth), dx);
        const tap = bilinearTaps(y, x, height, width, pointBatchBase);
        const gathered = tf.reshape(tf.gatherND(flat, tap.indices), [
          count * groups,
          4,
          channels / groups,
        ]);
        let column = tf.reshape(tf.matMul(tap.weights, gathered), [
          count * groups,
          channels / groups,
        ]);
        if (tapModulation) {
          const scale = tf.reshape(tf.slice(tapModulation, [k, 0, 0], [1, count, groups]), [
            count * groups,
            1,
          ]);
          column = tf.mul(column, scale);
        }
        columns.push(tf.reshape(column, [count, channels]));
      }
    }
    // HWIO flattens tap-major then input channel, the order of the concatenated columns.
    const out = tf.matMul(
      tf.concat(columns, 1),
      tf.reshape(filter, [taps * channels, outChannels]),
    );
    return (options.bias ? tf.add(out, options.bias) : out) as tf.Tensor2D;
  });
}
