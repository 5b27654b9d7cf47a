import * as tf from '@tensorflow/tfjs-core';
import { outputPair, type RoiAlignOptions, roiAlign } from './roi-align';

export interface RoiLevelOptions {
  /** Spatial scale of each level, finest first, e.g. [1/4, 1/8, 1/16, 1/32] for P2–P5. */
  spatialScales: number[];
  /** Level of a canonical-size RoI (FPN eq. 1's k0, default 4). */
  canonicalLevel?: number;
  /** Canonical RoI size in image pixels (FPN eq. 1's 224, default 224). */
  canonicalScale?: number;
}

export interface MultiLevelRoiAlignOptions
  extends RoiLevelOptions,
    Omit<RoiAlignOptions, 'spatialScale'> {}

function levelRange(spatialScales: number[]): { min: number; max: number } {
  if (spatialScales.length === 0 || spatialScales.some((s) => !(s > 0))) {
    throw new Error(
      `multiLevelRoiAlign spatialScales: expected positive scales, got ${JSON.stringify(spatialScales)}`,
    );
  }
  // torchvision's MultiScaleRoIAlign: levels are -log2(scale) of the finest and coarsest maps.
  return {
    min: -Math.log2(spatialScales[0] as number),
    max: -Math.log2(spatialScales[spatialScales.length - 1] as number),
  };
}

/**
 * Rows of x in the given order (a permutation), differentiable: the gradient is the inverse
 * permutation. gatherND copies whole rows (GatherV2 is ~9× slower on wasm for wide rows).
 */
function permuteRows(x: tf.Tensor, order: number[]): tf.Tensor {
  const inverse = new Array<number>(order.length);
  order.forEach((row, position) => {
    inverse[row] = position;
  });
  const permute = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [value] = args as [tf.Tensor];
    return {
      value: tf.gatherND(value, tf.tensor2d(order, [order.length, 1], 'int32')),
      gradFunc: (dy: tf.Tensor) =>
        tf.gatherND(dy, tf.tensor2d(inverse, [inverse.length, 1], 'int32')),
    };
  });
  return permute(x);
}

/**
 * The FPN level (index into `spatialScales`) of each RoI [K, 4] (xyxy, image pixels):
 * FPN eq. 1, k = ⌊k0 + log2(√(wh) / 224)⌋ clamped to the available levels, with
 * torchvision's LevelMapper epsilon (1e-6); mmdetection's `map_roi_levels` with
 * finest_scale 56 is the same mapping.
 */
export function roiLevels(rois: tf.Tensor2D, options: RoiLevelOptions): tf.Tensor1D {
  const { min, max } = levelRange(options.spatialScales);
  const canonicalLevel = options.canonicalLevel ?? 4;
  const canonicalScale = options.canonicalScale ?? 224;
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = tf.unstack(rois, 1) as tf.Tensor1D[];
    const size = tf.sqrt(
      tf.mul(tf.sub(x2 as tf.Tensor, x1 as tf.Tensor), tf.sub(y2 as tf.Tensor, y1 as tf.Tensor)),
    );
    const level = tf.floor(
      tf.add(canonicalLevel, tf.div(tf.log(tf.add(tf.div(size, canonicalScale), 1e-6)), Math.LN2)),
    );
    return tf.cast(tf.sub(tf.clipByValue(level, min, max), min), 'int32') as tf.Tensor1D;
  });
}

/** `roiLevels` on host rois (flat xyxy), in float32 steps like the tensor path. */
export function roiLevelsOnHost(rois: Float32Array, options: RoiLevelOptions): Int32Array {
  const { min, max } = levelRange(options.spatialScales);
  const canonicalLevel = options.canonicalLevel ?? 4;
  const canonicalScale = options.canonicalScale ?? 224;
  const f = Math.fround;
  const levels = new Int32Array(rois.length / 4);
  for (let roi = 0; roi < levels.length; roi += 1) {
    const [x1, y1, x2, y2] = rois.subarray(roi * 4, roi * 4 + 4) as unknown as number[];
    const size = f(
      Math.sqrt(f(f((x2 as number) - (x1 as number)) * f((y2 as number) - (y1 as number)))),
    );
    const level = Math.floor(
      f(canonicalLevel + f(f(Math.log(f(f(size / canonicalScale) + 1e-6))) / Math.LN2)),
    );
    levels[roi] = Math.min(Math.max(level, min), max) - min;
  }
  return levels;
}

/**
 * RoIAlign over an FPN pyramid: each RoI is pooled from the level `roiLevels` assigns it
 * (torchvision's MultiScaleRoIAlign, mmdetection's SingleRoIExtractor), with
 * `roiAlign`'s options; results keep the order of `rois`. Reads the K level indices back
 * to split the RoIs per level (as torchvision does with `torch.where`) — unless the rois are
 * given on the host (a flat Float32Array of xyxy, as proposals after NMS are), which needs no
 * readback at all and is how webgpu in Node must call it.
 */
export function multiLevelRoiAlign(
  levels: tf.Tensor4D[],
  rois: tf.Tensor2D | Float32Array,
  batchIndices: tf.Tensor1D | number[],
  options: MultiLevelRoiAlignOptions,
): tf.Tensor4D {
  if (levels.length !== options.spatialScales.length) {
    throw new Error(
      `multiLevelRoiAlign: ${levels.length} levels but ${options.spatialScales.length} spatialScales`,
    );
  }
  const channels = levels[0]?.shape[3];
  if (
    channels === undefined ||
    levels.some((level) => level.rank !== 4 || level.shape[3] !== channels)
  ) {
    throw new Error(
      `multiLevelRoiAlign: levels must be NHWC with the same channel count, got ${levels.map((l) => `[${l.shape.join(', ')}]`).join(' ')}`,
    );
  }
  const [outHeight, outWidth] = outputPair(options.outputSize, 'multiLevelRoiAlign outputSize');
  const hostRois = rois instanceof Float32Array ? rois : undefined;
  if (hostRois && hostRois.length % 4 !== 0) {
    throw new Error(
      `multiLevelRoiAlign: host rois must hold 4 numbers (x1, y1, x2, y2) per RoI, got ${hostRois.length}`,
    );
  }
  return tf.tidy(() => {
    const roiTensor = hostRois
      ? tf.tensor2d(hostRois, [hostRois.length / 4, 4])
      : (rois as tf.Tensor2D);
    const count = roiTensor.shape[0];
    const batchTensor = Array.isArray(batchIndices)
      ? tf.tensor1d(batchIndices, 'int32')
      : tf.cast(batchIndices, 'int32');
    const assigned = hostRois
      ? roiLevelsOnHost(hostRois, options)
      : roiLevels(roiTensor, options).dataSync();
    const members: number[][] = levels.map(() => []);
    assigned.forEach((level, roi) => {
      members[level]?.push(roi);
    });
    const pooled: tf.Tensor4D[] = [];
    const order: number[] = [];
    members.forEach((indices, level) => {
      if (indices.length === 0) return;
      const picked = tf.tensor1d(indices, 'int32');
      const levelRois = hostRois
        ? Float32Array.from(
            indices.flatMap((roi) => Array.from(hostRois.subarray(roi * 4, roi * 4 + 4))),
          )
        : (tf.gather(roiTensor, picked) as tf.Tensor2D);
      pooled.push(
        roiAlign(levels[level] as tf.Tensor4D, levelRois, tf.gather(batchTensor, picked), {
          outputSize: [outHeight, outWidth],
          spatialScale: options.spatialScales[level] as number,
          samplingRatio: options.samplingRatio,
          aligned: options.aligned,
          sampling: options.sampling,
        }),
      );
      order.push(...indices);
    });
    if (count === 0) {
      return roiAlign(levels[0] as tf.Tensor4D, roiTensor, batchTensor, {
        ...options,
        outputSize: [outHeight, outWidth],
      });
    }
    const stacked = pooled.length === 1 ? (pooled[0] as tf.Tensor4D) : tf.concat(pooled, 0);
    // stacked row p holds RoI order[p]; put RoI r back at row r.
    const positions = new Array<number>(count);
    order.forEach((roi, position) => {
      positions[roi] = position;
    });
    return permuteRows(stacked, positions) as tf.Tensor4D;
  });
}
