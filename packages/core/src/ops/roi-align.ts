import * as tf from '@tensorflow/tfjs-core';
import { hasSyncReadback } from '../backend/readback';
import { assertRank } from './conv-geometry';
import { roiAlignHostBackward, roiAlignHostForward, roiSampleGrid } from './roi-align-host';

export interface RoiAlignOptions {
  /** Output bins per RoI, `oh` or `[oh, ow]`. */
  outputSize: number | [number, number];
  /** Feature-map pixels per image pixel, e.g. 1/4 for P2 (default 1). */
  spatialScale?: number;
  /** Samples per bin along each axis; ≤ 0 samples ceil(roiSize / outputSize) (torchvision's default -1). */
  samplingRatio?: number;
  /** Shift the RoI by -0.5 pixel (Detectron2's ROIAlignV2); torchvision's default false. */
  aligned?: boolean;
  /**
   * Where the bilinear sampling runs: `'host'` on typed arrays (one readback of the features,
   * rois and batch indices; each RoI visits only its own sampling grid), `'tensor'` (gatherND /
   * matMul / scatterND per sample of the largest grid; keeps data on a GPU), or `'auto'`
   * (default: host where tensors live in host memory — wasm, cpu). Both give the same bits.
   */
  sampling?: 'auto' | 'host' | 'tensor';
}

const where = 'roiAlign';

export function outputPair(outputSize: number | [number, number], field: string): [number, number] {
  const pair: [number, number] =
    typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(
      `${field}: expected a positive integer or [height, width], got ${JSON.stringify(outputSize)}`,
    );
  }
  return pair;
}

/**
 * Sample positions along one axis for every RoI and bin, as torchvision's
 * `roi_align_forward_kernel_impl` / `bilinear_interpolate` place them: sample s of bin p at
 * start + p·bin + (s + 0.5)·bin/grid; a sample beyond [-1, extent] counts zero, one past the
 * last pixel clamps to it. Returns the two neighbouring pixels and their weights (already
 * divided by the grid size, so summing all samples averages them), each [2, K, out, gridMax].
 */
function axisSamples(
  start: tf.Tensor1D,
  binSize: tf.Tensor1D,
  grid: tf.Tensor1D,
  gridMax: number,
  outSize: number,
  extent: number,
) {
  const k = start.shape[0];
  const bins = tf.reshape(tf.range(0, outSize), [1, outSize, 1]);
  const samples = tf.reshape(tf.range(0, gridMax), [1, 1, gridMax]);
  const gridSafe = tf.reshape(tf.maximum(grid, 1), [k, 1, 1]);
  const bin = tf.reshape(binSize, [k, 1, 1]);
  const coordinate = tf.add(
    tf.add(tf.reshape(start, [k, 1, 1]), tf.mul(bins, bin)),
    tf.div(tf.mul(tf.add(samples, 0.5), bin), gridSafe),
  );
  const valid = tf.cast(
    tf.logicalAnd(
      tf.logicalAnd(tf.greaterEqual(coordinate, -1), tf.lessEqual(coordinate, extent)),
      tf.less(samples, tf.reshape(grid, [k, 1, 1])),
    ),
    'float32',
  );
  const clamped = tf.maximum(coordinate, 0);
  const floor = tf.floor(clamped);
  const atEdge = tf.greaterEqual(floor, extent - 1);
  const last = tf.fill(floor.shape, extent - 1);
  const low = tf.where(atEdge, last, floor);
  const high = tf.where(atEdge, last, tf.add(floor, 1));
  const fraction = tf.sub(tf.where(atEdge, low, clamped), low);
  const scale = tf.div(valid, gridSafe);
  // Pixel indices stay float32 (exact below 2^24) until the final flat index: tfjs-backend-webgpu
  // 4.22 cannot transpose int32 tensors that live on the GPU (its TransposeProgram writes i32
  // into an f32 setter and the shader fails to compile, zeroing the whole submission).
  return {
    pixels: tf.stack([low, high]) as tf.Tensor4D,
    weights: tf.stack([tf.mul(tf.sub(1, fraction), scale), tf.mul(fraction, scale)]) as tf.Tensor4D,
  };
}

/**
 * RoIAlign (He et al. 2017, Mask R-CNN §3), equal to `torchvision.ops.roi_align` in NHWC:
 * features [B, H, W, C], rois [K, 4] (x1, y1, x2, y2 in image pixels), batchIndices [K]
 * → [K, oh, ow, C]. Differentiable w.r.t. the features on every backend (tfjs has no
 * gradient for cropAndResize). The bilinear weights do not depend on the features, so they
 * are computed once, outside the gradient; the op then accumulates one sample position of
 * every bin at a time (one gather of 4 corners, [4·K·oh·ow, C]) instead of materialising all
 * samples, and its gradient scatters the same way. Corners are read with gatherND (row
 * copies, ~5× faster than GatherV2 on wasm) since the custom gradient needs no gather gradient.
 * Adaptive sampling sizes its sample loop by the largest grid: from host rois (a flat
 * Float32Array of xyxy) without touching the device, else by reading one scalar back — which
 * webgpu in Node cannot do, so pass host rois there.
 */
export function roiAlign(
  features: tf.Tensor4D,
  rois: tf.Tensor2D | Float32Array,
  batchIndices: tf.Tensor1D | number[],
  options: RoiAlignOptions,
): tf.Tensor4D {
  assertRank(features, 4, `${where} features`);
  if (rois instanceof Float32Array) {
    if (rois.length % 4 !== 0) {
      throw new Error(
        `${where}: host rois must hold 4 numbers (x1, y1, x2, y2) per RoI, got ${rois.length}`,
      );
    }
    const hostRois = rois;
    const roiTensor = tf.tensor2d(hostRois, [hostRois.length / 4, 4]);
    try {
      return roiAlignOn(features, roiTensor, hostRois, batchIndices, options);
    } finally {
      roiTensor.dispose();
    }
  }
  if (rois.rank !== 2 || rois.shape[1] !== 4) {
    throw new Error(
      `${where}: rois must be [K, 4] (x1, y1, x2, y2), got [${rois.shape.join(', ')}]`,
    );
  }
  return roiAlignOn(features, rois, undefined, batchIndices, options);
}

/** The largest adaptive sampling grid over all RoIs along one axis (0: height, 1: width). */
function hostGridMax(
  hostRois: Float32Array,
  axis: 0 | 1,
  spatialScale: number,
  aligned: boolean,
  outSize: number,
): number {
  let largest = 1;
  for (let i = 0; i < hostRois.length; i += 4) {
    // float32 at every step, as the tensor path computes it.
    const shift = aligned ? 0.5 : 0;
    const start = Math.fround(
      Math.fround((hostRois[i + 1 - axis] as number) * spatialScale) - shift,
    );
    const end = Math.fround(Math.fround((hostRois[i + 3 - axis] as number) * spatialScale) - shift);
    const difference = Math.fround(end - start);
    const size = aligned ? difference : Math.max(difference, 1);
    largest = Math.max(largest, Math.ceil(Math.fround(size / outSize)));
  }
  return largest;
}

function roiAlignOn(
  features: tf.Tensor4D,
  rois: tf.Tensor2D,
  hostRois: Float32Array | undefined,
  batchIndices: tf.Tensor1D | number[],
  options: RoiAlignOptions,
): tf.Tensor4D {
  const [outHeight, outWidth] = outputPair(options.outputSize, `${where} outputSize`);
  const spatialScale = options.spatialScale ?? 1;
  if (!(spatialScale > 0))
    throw new Error(`${where}: spatialScale must be > 0, got ${spatialScale}`);
  const samplingRatio = Math.floor(options.samplingRatio ?? -1);
  const aligned = options.aligned ?? false;
  const [batch, height, width, channels] = features.shape;
  const count = rois.shape[0];
  const indexLength = Array.isArray(batchIndices) ? batchIndices.length : batchIndices.size;
  if (indexLength !== count) {
    throw new Error(`${where}: batchIndices has ${indexLength} entries for ${count} rois`);
  }
  if (
    Array.isArray(batchIndices) &&
    batchIndices.some((b) => !Number.isInteger(b) || b < 0 || b >= batch)
  ) {
    throw new Error(
      `${where}: batchIndices must be integers in [0, ${batch}), got ${JSON.stringify(batchIndices)}`,
    );
  }

  const sampling = options.sampling ?? 'auto';
  if (
    count > 0 &&
    (sampling === 'host' || (sampling === 'auto' && hasSyncReadback(tf.getBackend())))
  ) {
    return roiAlignOnHost(features, rois, hostRois, batchIndices, {
      outHeight,
      outWidth,
      spatialScale,
      samplingRatio,
      aligned,
    });
  }

  return tf.tidy(() => {
    const flat = tf.reshape(features, [batch * height * width, channels]);
    if (count === 0) {
      return tf.reshape(tf.slice(flat, [0, 0], [0, channels]), [
        0,
        outHeight,
        outWidth,
        channels,
      ]) as tf.Tensor4D;
    }
    // torchvision: aligned shifts by half a pixel; unaligned RoIs are at least 1×1.
    const boxes = tf.sub(tf.mul(rois, spatialScale), aligned ? 0.5 : 0);
    const [x1, y1, x2, y2] = tf.unstack(boxes, 1) as [
      tf.Tensor1D,
      tf.Tensor1D,
      tf.Tensor1D,
      tf.Tensor1D,
    ];
    let roiWidth = tf.sub(x2, x1);
    let roiHeight = tf.sub(y2, y1);
    if (!aligned) {
      roiWidth = tf.maximum(roiWidth, 1);
      roiHeight = tf.maximum(roiHeight, 1);
    }
    const binHeight = tf.div(roiHeight, outHeight) as tf.Tensor1D;
    const binWidth = tf.div(roiWidth, outWidth) as tf.Tensor1D;
    const gridHeight = samplingRatio > 0 ? tf.fill([count], samplingRatio) : tf.ceil(binHeight);
    const gridWidth = samplingRatio > 0 ? tf.fill([count], samplingRatio) : tf.ceil(binWidth);
    // The sample loop's length is data dependent; host rois give it without a GPU readback
    // (webgpu in Node cannot read back synchronously at all).
    const gridMax = (grid: tf.Tensor, axis: 0 | 1, outSize: number) => {
      if (samplingRatio > 0) return samplingRatio;
      if (hostRois) return hostGridMax(hostRois, axis, spatialScale, aligned, outSize);
      return Math.max(1, tf.max(grid).dataSync()[0] ?? 1);
    };
    const gridMaxHeight = gridMax(gridHeight, 0, outHeight);
    const gridMaxWidth = gridMax(gridWidth, 1, outWidth);
    const ys = axisSamples(
      y1,
      binHeight,
      gridHeight as tf.Tensor1D,
      gridMaxHeight,
      outHeight,
      height,
    );
    const xs = axisSamples(x1, binWidth, gridWidth as tf.Tensor1D, gridMaxWidth, outWidth, width);

    // Rows [gh·2, 1, K, oh, 1] × columns [1, gw·2, K, 1, ow] → [gh, 2, gw, 2, K·oh·ow] →
    // [samples, K·oh·ow, 4]: corners last, so each bin's weighted sum is a [1, 4] · [4, C]
    // batched matMul. (Wasm's XNNPACK silently miscomputes broadcasts beyond rank 6.)
    const samples = gridMaxHeight * gridMaxWidth;
    const positions = count * outHeight * outWidth;
    const rowsFirst = (t: tf.Tensor4D) =>
      tf.reshape(tf.transpose(t, [3, 0, 1, 2]), [gridMaxHeight * 2, 1, count, outHeight, 1]);
    const colsFirst = (t: tf.Tensor4D) =>
      tf.reshape(tf.transpose(t, [3, 0, 1, 2]), [1, gridMaxWidth * 2, count, 1, outWidth]);
    const sampleMajor = (t: tf.Tensor) =>
      tf.transpose(tf.reshape(t, [gridMaxHeight, 2, gridMaxWidth, 2, positions]), [0, 2, 4, 1, 3]);
    const batchTensor = Array.isArray(batchIndices)
      ? tf.tensor1d(batchIndices, 'float32')
      : tf.cast(batchIndices, 'float32');
    const base = tf.reshape(tf.mul(batchTensor, height * width), [1, 1, count, 1, 1]);
    const rowOffsets = tf.add(base, tf.mul(rowsFirst(ys.pixels), width));
    const indices = tf.cast(
      tf.reshape(sampleMajor(tf.add(rowOffsets, colsFirst(xs.pixels))), [samples, 4 * positions]),
      'int32',
    );
    const weights = tf.reshape(sampleMajor(tf.mul(rowsFirst(ys.weights), colsFirst(xs.weights))), [
      samples,
      positions,
      1,
      4,
    ]);

    const pool = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
      save([indices, weights]);
      let out: tf.Tensor2D = tf.zeros([positions, channels]);
      for (let s = 0; s < samples; s++) {
        const next = tf.tidy(() => {
          const sampleIndices = tf.reshape(tf.slice(indices, [s, 0], [1, -1]), [-1, 1]);
          const corners = tf.reshape(tf.gatherND(x, sampleIndices), [positions, 4, channels]);
          const sampleWeights = tf.reshape(tf.slice(weights, [s, 0, 0, 0], [1, -1, -1, -1]), [
            positions,
            1,
            4,
          ]);
          const pooled = tf.reshape(tf.matMul(sampleWeights, corners), [positions, channels]);
          return tf.add(out, pooled) as tf.Tensor2D;
        });
        out.dispose();
        out = next;
      }
      return {
        value: out,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [savedIndices, savedWeights] = saved as [tf.Tensor2D, tf.Tensor4D];
          let grad: tf.Tensor2D = tf.zeros([batch * height * width, channels]);
          for (let s = 0; s < samples; s++) {
            const next = tf.tidy(() => {
              const sampleIndices = tf.reshape(tf.slice(savedIndices, [s, 0], [1, -1]), [-1, 1]);
              const sampleWeights = tf.reshape(
                tf.slice(savedWeights, [s, 0, 0, 0], [1, -1, -1, -1]),
                [positions, 4, 1],
              );
              const updates = tf.reshape(
                tf.matMul(sampleWeights, tf.reshape(dy, [positions, 1, channels])),
                [4 * positions, channels],
              );
              return tf.add(grad, tf.scatterND(sampleIndices, updates, grad.shape)) as tf.Tensor2D;
            });
            grad.dispose();
            grad = next;
          }
          return grad;
        },
      };
    });
    return tf.reshape(pool(flat), [count, outHeight, outWidth, channels]) as tf.Tensor4D;
  });
}

/**
 * The host path: the same samples, weights and float32 sums as the tensor path (bit for bit,
 * tested), but each RoI visits only its own grid instead of the largest one, with no per-sample
 * kernels. The backward pass recomputes the grid from the rois (no feature values needed).
 */
function roiAlignOnHost(
  features: tf.Tensor4D,
  rois: tf.Tensor2D,
  hostRois: Float32Array | undefined,
  batchIndices: tf.Tensor1D | number[],
  settings: {
    outHeight: number;
    outWidth: number;
    spatialScale: number;
    samplingRatio: number;
    aligned: boolean;
  },
): tf.Tensor4D {
  const [batch, height, width, channels] = features.shape;
  const roiValues = hostRois ?? (rois.dataSync() as Float32Array);
  const batchValues = Array.isArray(batchIndices)
    ? Int32Array.from(batchIndices)
    : Int32Array.from(batchIndices.dataSync());
  const grid = roiSampleGrid({
    rois: roiValues,
    batchIndices: batchValues,
    height,
    width,
    ...settings,
  });
  const count = batchValues.length;
  const pool = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x] = args as [tf.Tensor4D];
    const out = roiAlignHostForward(grid, x.dataSync() as Float32Array, channels);
    return {
      value: tf.tensor4d(out, [count, settings.outHeight, settings.outWidth, channels]),
      gradFunc: (dy: tf.Tensor) =>
        tf.tensor4d(
          roiAlignHostBackward(
            grid,
            dy.dataSync() as Float32Array,
            channels,
            batch * height * width,
          ),
          [batch, height, width, channels],
        ),
    };
  });
  return pool(features) as tf.Tensor4D;
}
