/**
 * ImageNet statistics in 0-255 units. `pytorch`: torchvision's RGB mean/std. `caffe`: the
 * MSRA/Detectron caffe weights' BGR mean with unit std (mmdetection's caffe-style config).
 */
export const imagenetNormalization = {
  pytorch: { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], toBgr: false },
  caffe: { mean: [103.53, 116.28, 123.675], std: [1, 1, 1], toBgr: true },
} as const;

export interface NormalizeOptions {
  /** A preset; default `pytorch`. Ignored when `mean` and `std` are given. */
  style?: 'pytorch' | 'caffe';
  /** Per-channel mean in output channel order (0-255 units). */
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
  /** Reorder RGB → BGR before subtracting the mean. */
  toBgr?: boolean;
}

export function resolveNormalization(options: NormalizeOptions = {}): {
  mean: readonly number[];
  std: readonly number[];
  toBgr: boolean;
} {
  if (options.mean && options.std) {
    if (options.std.some((value) => !(value > 0))) {
      throw new Error(`normalize: std must be positive, got [${options.std.join(', ')}]`);
    }
    return { mean: options.mean, std: options.std, toBgr: options.toBgr ?? false };
  }
  if (options.mean || options.std) throw new Error('normalize: give both mean and std, or neither');
  return imagenetNormalization[options.style ?? 'pytorch'];
}

/**
 * `(x − mean) / std` per channel (optionally RGB → BGR first) of interleaved 8-bit pixels:
 * `channels` 3 (RGB, det's decoded images) or 4 (RGBA, a canvas' `getImageData`; alpha is
 * dropped). Returns H·W·3 float32 values, the input of `detector.predict`.
 */
export function normalizePixels(
  source: ArrayLike<number>,
  normalization: { mean: readonly number[]; std: readonly number[]; toBgr: boolean },
  channels: 3 | 4 = 3,
): Float32Array {
  if (source.length % channels !== 0) {
    throw new Error(
      `normalizePixels: ${source.length} values are not a whole number of ${channels}-channel pixels`,
    );
  }
  const { mean, std, toBgr } = normalization;
  const [m0, m1, m2] = mean as [number, number, number];
  const [s0, s1, s2] = [1 / std[0]!, 1 / std[1]!, 1 / std[2]!];
  const pixels = source.length / channels;
  const data = new Float32Array(pixels * 3);
  for (let pixel = 0; pixel < pixels; pixel += 1) {
    const input = pixel * channels;
    const output = pixel * 3;
    const r = source[input]!;
    const b = source[input + 2]!;
    data[output] = ((toBgr ? b : r) - m0) * s0;
    data[output + 1] = (source[input + 1]! - m1) * s1;
    data[output + 2] = ((toBgr ? r : b) - m2) * s2;
  }
  return data;
}
