import * as tf from '@tensorflow/tfjs-core';
import type { Size2D } from '../types/box-format';
import type { PriorGenerator } from '../types/prior-generator';

/** A stride as one number or `[strideW, strideH]` (mmdetection's `_pair` order). */
export type Stride = number | readonly [strideW: number, strideH: number];

export interface AnchorGeneratorOptions {
  /** Stride of each level in input pixels, e.g. `[8, 16, 32, 64, 128]` for P3–P7. */
  strides: readonly Stride[];
  /** Aspect ratios h / w of the base anchors (mmdetection's convention). */
  ratios: readonly number[];
  /** Anchor sizes as multiples of the base size. Give this or the octave pair. */
  scales?: readonly number[];
  /** RetinaNet's octave scales: `octaveBaseScale · 2^(i / scalesPerOctave)`, i < scalesPerOctave. */
  octaveBaseScale?: number;
  scalesPerOctave?: number;
  /** Base size of each level's anchors; default the smaller side of its stride. */
  baseSizes?: readonly number[];
  /**
   * Anchor center within a grid cell as a fraction of the base size: 0 puts it on the
   * cell's top-left corner (mmdetection v2), 0.5 in the middle. Default 0.
   */
  centerOffset?: number;
  /**
   * mmdetection's `scale_major`: true orders base anchors ratio-major with scales
   * varying fastest (index `r · S + s`), false the other way round. Default true.
   */
  scaleMajor?: boolean;
}

const fround = Math.fround;

function positiveNumbers(values: readonly number[] | undefined, field: string): void {
  if (values === undefined) return;
  if (
    !Array.isArray(values) ||
    values.length === 0 ||
    !values.every((v) => Number.isFinite(v) && v > 0)
  ) {
    throw new Error(
      `AnchorGenerator: ${field} must be a non-empty list of positive numbers, got ${JSON.stringify(values)}`,
    );
  }
}

/**
 * Dense anchors on a feature grid, mmdetection's `AnchorGenerator` (v2, `center_offset`
 * semantics). Base anchors of level l, for ratio r and scale s with base size b:
 * `w = b · s / √r`, `h = b · s · √r`, centered at `centerOffset · b`; the anchor at grid cell
 * (y, x) adds `(x · strideW, y · strideH)`. Base anchors are computed once on the host with
 * every float32 step of the PyTorch code emulated, so they equal mmdetection's bit for bit.
 */
export class AnchorGenerator implements PriorGenerator {
  readonly strides: readonly (readonly [number, number])[];
  readonly ratios: readonly number[];
  readonly scales: readonly number[];
  readonly baseSizes: readonly number[];
  readonly centerOffset: number;
  readonly scaleMajor: boolean;
  /** Per level, A base anchors as a flat float32 `A·4` xyxy array. */
  readonly baseAnchors: readonly Float32Array[];

  constructor(options: AnchorGeneratorOptions) {
    const { strides, ratios } = options;
    if (!Array.isArray(strides) || strides.length === 0) {
      throw new Error(
        `AnchorGenerator: strides must be a non-empty list, got ${JSON.stringify(strides)}`,
      );
    }
    this.strides = strides.map((stride, level) => {
      const pair: readonly number[] = typeof stride === 'number' ? [stride, stride] : stride;
      if (pair.length !== 2 || !pair.every((v) => Number.isFinite(v) && v > 0)) {
        throw new Error(
          `AnchorGenerator: strides[${level}] must be > 0, got ${JSON.stringify(stride)}`,
        );
      }
      return [pair[0]!, pair[1]!] as const;
    });
    positiveNumbers(ratios, 'ratios');
    positiveNumbers(options.scales, 'scales');
    positiveNumbers(options.baseSizes, 'baseSizes');
    const octave = options.octaveBaseScale !== undefined || options.scalesPerOctave !== undefined;
    if (octave === (options.scales !== undefined)) {
      throw new Error('AnchorGenerator: give either scales or octaveBaseScale + scalesPerOctave');
    }
    let scales: number[];
    if (options.scales) {
      scales = options.scales.map(fround);
    } else {
      const base = options.octaveBaseScale;
      const perOctave = options.scalesPerOctave;
      if (!(base !== undefined && base > 0 && Number.isInteger(perOctave) && perOctave! > 0)) {
        throw new Error(
          `AnchorGenerator: octaveBaseScale must be > 0 and scalesPerOctave an integer > 0, got ${base} and ${perOctave}`,
        );
      }
      // mmdetection: torch.tensor([2**(i / n)]) * octave_base_scale, in float32.
      scales = Array.from({ length: perOctave! }, (_, i) =>
        fround(fround(2 ** (i / perOctave!)) * base),
      );
    }
    const baseSizes = options.baseSizes ?? this.strides.map(([w, h]) => Math.min(w, h));
    if (baseSizes.length !== this.strides.length) {
      throw new Error(
        `AnchorGenerator: baseSizes has ${baseSizes.length} entries but strides has ${this.strides.length}`,
      );
    }
    const centerOffset = options.centerOffset ?? 0;
    if (!(centerOffset >= 0 && centerOffset <= 1)) {
      throw new Error(`AnchorGenerator: centerOffset must be in [0, 1], got ${centerOffset}`);
    }
    this.ratios = [...ratios];
    this.scales = scales;
    this.baseSizes = [...baseSizes];
    this.centerOffset = centerOffset;
    this.scaleMajor = options.scaleMajor ?? true;
    this.baseAnchors = this.baseSizes.map((size) => this.levelBaseAnchors(size));
  }

  get numLevels(): number {
    return this.strides.length;
  }

  get numBasePriors(): readonly number[] {
    return this.baseAnchors.map((anchors) => anchors.length / 4);
  }

  /** mmdetection's `gen_single_level_base_anchors`, float32 step by step. */
  private levelBaseAnchors(baseSize: number): Float32Array {
    const size = fround(baseSize);
    const center = fround(this.centerOffset * size);
    const hRatios = this.ratios.map((r) => fround(Math.sqrt(fround(r))));
    const wRatios = hRatios.map((h) => fround(1 / h));
    const pairs: [number, number][] = [];
    if (this.scaleMajor) {
      for (let r = 0; r < hRatios.length; r++) {
        for (const scale of this.scales) {
          pairs.push([
            fround(fround(size * wRatios[r]!) * scale),
            fround(fround(size * hRatios[r]!) * scale),
          ]);
        }
      }
    } else {
      for (const scale of this.scales) {
        for (let r = 0; r < hRatios.length; r++) {
          pairs.push([
            fround(fround(size * scale) * wRatios[r]!),
            fround(fround(size * scale) * hRatios[r]!),
          ]);
        }
      }
    }
    const anchors = new Float32Array(pairs.length * 4);
    pairs.forEach(([w, h], a) => {
      const halfW = fround(0.5 * w);
      const halfH = fround(0.5 * h);
      anchors.set([center - halfW, center - halfH, center + halfW, center + halfH], a * 4);
    });
    return anchors;
  }

  private checkSizes(featmapSizes: readonly Size2D[], where: string): void {
    if (featmapSizes.length !== this.numLevels) {
      throw new Error(
        `AnchorGenerator.${where}: got ${featmapSizes.length} feature map sizes for ${this.numLevels} levels`,
      );
    }
    featmapSizes.forEach((size, level) => {
      if (!(size.length === 2 && size.every((v) => Number.isInteger(v) && v >= 0))) {
        throw new Error(
          `AnchorGenerator.${where}: featmapSizes[${level}] must be [height, width] of integers ≥ 0, got ${JSON.stringify(size)}`,
        );
      }
    });
  }

  /** One `[H·W·A, 4]` float32 tensor per level in (H, W, A) order; the caller disposes them. */
  gridPriors(featmapSizes: readonly Size2D[]): tf.Tensor2D[] {
    this.checkSizes(featmapSizes, 'gridPriors');
    return featmapSizes.map(([height, width], level) =>
      shiftBaseAnchors(this.baseAnchors[level]!, [height, width], this.strides[level]!),
    );
  }

  /**
   * One `[H·W·A]` bool tensor per level: a location is valid when it lies within
   * `ceil(padShape / stride)` cells (mmdetection's `valid_flags`).
   */
  validFlags(featmapSizes: readonly Size2D[], padShape: Size2D): tf.Tensor1D[] {
    this.checkSizes(featmapSizes, 'validFlags');
    if (!(padShape.length === 2 && padShape.every((v) => Number.isFinite(v) && v >= 0))) {
      throw new Error(
        `AnchorGenerator.validFlags: padShape must be [height, width] ≥ 0, got ${JSON.stringify(padShape)}`,
      );
    }
    return featmapSizes.map(([height, width], level) =>
      tf.tidy(() => {
        const [strideW, strideH] = this.strides[level]!;
        const validH = Math.min(Math.ceil(padShape[0] / strideH), height);
        const validW = Math.min(Math.ceil(padShape[1] / strideW), width);
        const numBase = this.baseAnchors[level]!.length / 4;
        const validX = tf.less(tf.range(0, width, 1, 'int32'), validW);
        const validY = tf.less(tf.range(0, height, 1, 'int32'), validH);
        const grid = tf.logicalAnd(tf.reshape(validY, [height, 1]), tf.reshape(validX, [1, width]));
        const perPrior = tf.tile(tf.reshape(grid, [height * width, 1]), [1, numBase]);
        return tf.reshape(perPrior, [height * width * numBase]) as tf.Tensor1D;
      }),
    );
  }
}

/**
 * Every base anchor (flat `A·4` xyxy) shifted to every cell of an `[H, W]` grid: `[H·W·A, 4]`
 * in (H, W, A) order, cell (y, x) adding `(x·strideW, y·strideH)` (mmdetection's meshgrid
 * order). The one grid shift of sliding-window and MetaAnchor priors.
 */
export function shiftBaseAnchors(
  base: Float32Array,
  [height, width]: Size2D,
  [strideW, strideH]: readonly [number, number],
): tf.Tensor2D {
  return tf.tidy(() => {
    const numBase = base.length / 4;
    const shiftX = tf.mul(tf.range(0, width, 1, 'float32'), strideW);
    const shiftY = tf.mul(tf.range(0, height, 1, 'float32'), strideH);
    const xx = tf.tile(tf.reshape(shiftX, [1, width]), [height, 1]);
    const yy = tf.tile(tf.reshape(shiftY, [height, 1]), [1, width]);
    const shifts = tf.reshape(tf.stack([xx, yy, xx, yy], 2), [height * width, 1, 4]);
    const anchors = tf.add(tf.tensor3d(base, [1, numBase, 4]), shifts);
    return tf.reshape(anchors, [height * width * numBase, 4]) as tf.Tensor2D;
  });
}
