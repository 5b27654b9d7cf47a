import sharp from 'sharp';
import type { ImageBuffer } from './decode-image';
import { flipBoxes, type ImageMeta, scaleBoxes } from './image-meta';
import { type NormalizeOptions, normalizePixels, resolveNormalization } from './normalization';
import type { Random } from './random';

/**
 * One image with its ground truth as it moves through the pipeline. Boxes are flat xyxy in
 * the current image's coordinates; `meta` records every geometric change.
 */
export interface Sample {
  image: ImageBuffer;
  /** [N·4] xyxy. */
  boxes: Float32Array;
  /** [N] contiguous labels. */
  labels: Int32Array;
  /** [M·4] xyxy regions ignored by the losses (crowd and dropped boxes). */
  ignoreBoxes: Float32Array;
  meta: ImageMeta;
}

/** A pipeline step. `random` is seeded per (seed, epoch, image) by the loader. */
export interface Transform {
  readonly name: string;
  apply(sample: Sample, random: Random): Sample | Promise<Sample>;
}

/** Runs transforms in order. */
export async function applyTransforms(
  sample: Sample,
  transforms: readonly Transform[],
  random: Random,
): Promise<Sample> {
  let current = sample;
  for (const transform of transforms) current = await transform.apply(current, random);
  return current;
}

/** A (short side, long side) target: mmdetection's `img_scale=(1333, 800)` is `{ 800, 1333 }`. */
export interface ResizeScale {
  shortSide: number;
  longSide: number;
}

/**
 * mmcv's `rescale_size` with keep-ratio: the largest factor that keeps the short side ≤
 * `shortSide` and the long side ≤ `longSide`; sizes round half up.
 */
export function keepRatioSize(
  width: number,
  height: number,
  scale: ResizeScale,
): { width: number; height: number } {
  const factor = Math.min(
    scale.longSide / Math.max(width, height),
    scale.shortSide / Math.min(width, height),
  );
  return { width: Math.floor(width * factor + 0.5), height: Math.floor(height * factor + 0.5) };
}

/** Resizes a sample to an exact size (bilinear), scaling boxes by the per-axis factors. */
export async function resizeSample(sample: Sample, width: number, height: number): Promise<Sample> {
  const { image, meta } = sample;
  if (width === image.width && height === image.height) return sample;
  if (!(image.data instanceof Uint8Array)) {
    throw new Error(
      `resize: image ${meta.imageId} (${meta.filePath}) is already normalised; resize before normalize`,
    );
  }
  const { data } = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const scaleX = width / image.width;
  const scaleY = height / image.height;
  return {
    ...sample,
    image: { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height },
    boxes: scaleBoxes(sample.boxes, scaleX, scaleY),
    ignoreBoxes: scaleBoxes(sample.ignoreBoxes, scaleX, scaleY),
    meta: {
      ...meta,
      width,
      height,
      paddedWidth: width,
      paddedHeight: height,
      scaleX: width / meta.originalWidth,
      scaleY: height / meta.originalHeight,
    },
  };
}

function checkScale(scale: ResizeScale, where: string): void {
  if (
    !(
      scale.shortSide > 0 &&
      scale.longSide > 0 &&
      Number.isFinite(scale.shortSide + scale.longSide)
    )
  ) {
    throw new Error(
      `${where}: shortSide and longSide must be positive, got ${JSON.stringify(scale)}`,
    );
  }
}

/** Keep-ratio resize to a (short, long) scale such as (800, 1333) or (600, 1000). */
export function resize(scale: ResizeScale): Transform {
  checkScale(scale, 'resize');
  return {
    name: 'resize',
    apply: (sample) => {
      const size = keepRatioSize(sample.image.width, sample.image.height, scale);
      return resizeSample(sample, size.width, size.height);
    },
  };
}

export interface RandomResizeOptions {
  scales: readonly ResizeScale[];
  /**
   * `value` (default): pick one of `scales`; `range`: draw the short and long side uniformly
   * between the first two scales (mmdetection's multiscale_mode).
   */
  mode?: 'value' | 'range';
}

/** Multi-scale training: a keep-ratio resize to a scale drawn per image. */
export function randomResize(options: RandomResizeOptions): Transform {
  const mode = options.mode ?? 'value';
  if (options.scales.length === 0 || (mode === 'range' && options.scales.length !== 2)) {
    throw new Error(
      `randomResize: mode '${mode}' needs ${mode === 'range' ? 'exactly 2' : 'at least 1'} scales, got ${options.scales.length}`,
    );
  }
  for (const scale of options.scales) checkScale(scale, 'randomResize');
  return {
    name: 'randomResize',
    apply: (sample, random) => {
      let scale: ResizeScale;
      if (mode === 'value') {
        scale = options.scales[random.integer(0, options.scales.length - 1)]!;
      } else {
        const [a, b] = options.scales as [ResizeScale, ResizeScale];
        scale = {
          shortSide: random.integer(
            Math.min(a.shortSide, b.shortSide),
            Math.max(a.shortSide, b.shortSide),
          ),
          longSide: random.integer(
            Math.min(a.longSide, b.longSide),
            Math.max(a.longSide, b.longSide),
          ),
        };
      }
      const size = keepRatioSize(sample.image.width, sample.image.height, scale);
      return resizeSample(sample, size.width, size.height);
    },
  };
}

/** Mirrors a sample left-right (image, boxes, ignore regions) and toggles `meta.flipped`. */
export function flipSample(sample: Sample): Sample {
  const { image } = sample;
  const data =
    image.data instanceof Uint8Array
      ? new Uint8Array(image.data.length)
      : new Float32Array(image.data.length);
  const source = image.data;
  for (let y = 0; y < image.height; y++) {
    const row = y * image.width;
    for (let x = 0; x < image.width; x++) {
      const from = (row + x) * 3;
      const to = (row + image.width - 1 - x) * 3;
      data[to] = source[from]!;
      data[to + 1] = source[from + 1]!;
      data[to + 2] = source[from + 2]!;
    }
  }
  return {
    ...sample,
    image: { data, width: image.width, height: image.height },
    boxes: flipBoxes(sample.boxes, image.width),
    ignoreBoxes: flipBoxes(sample.ignoreBoxes, image.width),
    meta: { ...sample.meta, flipped: !sample.meta.flipped },
  };
}

/** Flips each image with the given probability (default 0.5). */
export function randomHorizontalFlip(options: { probability?: number } = {}): Transform {
  const probability = options.probability ?? 0.5;
  if (!(probability >= 0 && probability <= 1)) {
    throw new Error(`randomHorizontalFlip: probability must be in [0, 1], got ${probability}`);
  }
  return {
    name: 'randomHorizontalFlip',
    apply: (sample, random) => (random.chance(probability) ? flipSample(sample) : sample),
  };
}

/** Converts to float32, optionally to BGR, then `(x − mean) / std` per channel. */
export function normalize(options: NormalizeOptions = {}): Transform {
  const normalization = resolveNormalization(options);
  return {
    name: 'normalize',
    apply: (sample) => {
      const source = sample.image.data;
      if (source instanceof Float32Array) {
        throw new Error(`normalize: image ${sample.meta.imageId} is already normalised`);
      }
      const data = normalizePixels(source, normalization);
      return { ...sample, image: { ...sample.image, data } };
    },
  };
}

function roundUp(value: number, divisor: number): number {
  return Math.ceil(value / divisor) * divisor;
}

/** Pads an image right/bottom with zeros to `width × height` (≥ its size). */
export function padImage(image: ImageBuffer, width: number, height: number): ImageBuffer {
  if (width === image.width && height === image.height) return image;
  const data =
    image.data instanceof Uint8Array
      ? new Uint8Array(width * height * 3)
      : new Float32Array(width * height * 3);
  const rowLength = image.width * 3;
  for (let y = 0; y < image.height; y++) {
    data.set(image.data.subarray(y * rowLength, (y + 1) * rowLength), y * width * 3);
  }
  return { data, width, height };
}

/**
 * Pads right/bottom with zeros (the mean after normalisation) to a multiple of `divisor`
 * (32 for FPN strides up to 32, 128 for P7): boxes do not move.
 */
export function padToDivisor(options: { divisor: number }): Transform {
  const { divisor } = options;
  if (!Number.isInteger(divisor) || divisor < 1) {
    throw new Error(`padToDivisor: divisor must be a positive integer, got ${divisor}`);
  }
  return {
    name: 'padToDivisor',
    apply: (sample) => {
      const width = roundUp(sample.image.width, divisor);
      const height = roundUp(sample.image.height, divisor);
      return {
        ...sample,
        image: padImage(sample.image, width, height),
        meta: { ...sample.meta, paddedWidth: width, paddedHeight: height },
      };
    },
  };
}

/**
 * A box range: √(w·h) strictly between `minScale` and `maxScale` (pixels) and ln(w/h) strictly
 * between `minLogRatio` and `maxLogRatio`. MetaAnchor's "drop" experiment (Table 4) uses
 * {50 < √(hw) < 100, −1 < log(w/h) < 1}.
 */
export interface BoxRange {
  minScale: number;
  maxScale: number;
  minLogRatio: number;
  maxLogRatio: number;
}

export const metaAnchorDropRange: BoxRange = {
  minScale: 50,
  maxScale: 100,
  minLogRatio: -1,
  maxLogRatio: 1,
};

/** Whether each flat xyxy box falls in the range. */
export function boxesInRange(boxes: Float32Array, range: BoxRange): boolean[] {
  const inside: boolean[] = [];
  for (let offset = 0; offset < boxes.length; offset += 4) {
    const width = boxes[offset + 2]! - boxes[offset]!;
    const height = boxes[offset + 3]! - boxes[offset + 1]!;
    const scale = Math.sqrt(width * height);
    const logRatio = Math.log(width / height);
    inside.push(
      scale > range.minScale &&
        scale < range.maxScale &&
        logRatio > range.minLogRatio &&
        logRatio < range.maxLogRatio,
    );
  }
  return inside;
}

/**
 * Moves ground-truth boxes in `range` to the ignore regions, so the losses neither learn them
 * as objects nor as background (MetaAnchor §4.3 "drop": "we manually assign the corresponding
 * loss to 0"). Measured in the coordinates of the sample at this point of the pipeline; place
 * it after the resize to measure on the network input, as the paper does.
 */
export function dropBoxesInRange(range: BoxRange = metaAnchorDropRange): Transform {
  return {
    name: 'dropBoxesInRange',
    apply: (sample) => {
      const inside = boxesInRange(sample.boxes, range);
      if (!inside.includes(true)) return sample;
      const boxes: number[] = [];
      const labels: number[] = [];
      const ignoreBoxes = Array.from(sample.ignoreBoxes);
      inside.forEach((drop, index) => {
        const box = sample.boxes.subarray(index * 4, index * 4 + 4);
        if (drop) ignoreBoxes.push(...box);
        else {
          boxes.push(...box);
          labels.push(sample.labels[index]!);
        }
      });
      return {
        ...sample,
        boxes: Float32Array.from(boxes),
        labels: Int32Array.from(labels),
        ignoreBoxes: Float32Array.from(ignoreBoxes),
      };
    },
  };
}
