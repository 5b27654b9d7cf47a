import { Conv2d, ParameterStore, xavierUniform, zeros } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import type { FeatureShape } from './feature-shape';
import type { ResNetFeatureName } from './resnet';

/**
 * 'p3-p7': RetinaNet's pyramid (Lin et al. 2017b): P3–P5 from C3–C5, P6 = 3×3/2 conv,
 * P7 = 3×3/2 conv of relu(P6). 'p2-p6': the RPN / Faster R-CNN pyramid (Lin et al. 2017a):
 * P2–P5 from C2–C5, P6 = stride-2 subsampling of P5 (max pool, kernel 1).
 */
export type FpnLevels = 'p3-p7' | 'p2-p6';
export type FpnLevelName = 'p2' | 'p3' | 'p4' | 'p5' | 'p6' | 'p7';

export type FpnLevelNames<L extends FpnLevels> = L extends 'p2-p6'
  ? 'p2' | 'p3' | 'p4' | 'p5' | 'p6'
  : 'p3' | 'p4' | 'p5' | 'p6' | 'p7';
export type FpnOutputs<L extends FpnLevels> = Record<FpnLevelNames<L>, tf.Tensor4D>;
export type FpnInputs = Partial<Record<ResNetFeatureName, tf.Tensor4D>>;

export interface FpnOptions<L extends FpnLevels = FpnLevels> {
  /**
   * Channels of the inputs, finest first: C3–C5 (three) for 'p3-p7', C2–C5 (four) for
   * 'p2-p6', e.g. `[512, 1024, 2048]` for ResNet-50.
   */
  inChannels: readonly number[];
  /** Channels of every output level. Default 256. */
  outChannels?: number;
  /** Default 'p3-p7'. */
  levels?: L;
  /**
   * 'p3-p7' only: P6 from C5 (default; the RetinaNet paper, mmdetection
   * `add_extra_convs='on_input'`) or from P5 (torchvision when in = out channels).
   */
  extraInput?: 'c5' | 'p5';
  /** Where the parameters live; a new store by default. */
  store?: ParameterStore;
}

const INPUT_NAMES: readonly ResNetFeatureName[] = ['c2', 'c3', 'c4', 'c5'];
const LEVEL_NAMES: readonly FpnLevelName[] = ['p2', 'p3', 'p4', 'p5', 'p6', 'p7'];

/**
 * torchvision's `F.interpolate(x, size, mode='nearest')` (the FPN top-down pathway): cell i
 * takes source floor(i·in/out), so odd lateral sizes get the exact torchvision result.
 */
function upsampleNearest(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  return tf.image.resizeNearestNeighbor(x, [height, width], false, false);
}

/**
 * Feature Pyramid Network neck (Lin et al. 2017a), laid out as torchvision's
 * FeaturePyramidNetwork: `inner_blocks.i.0` (1×1 laterals), `layer_blocks.i.0` (3×3
 * outputs), `extra_blocks.p6` / `extra_blocks.p7`. Convs are initialised xavier-uniform
 * with zero bias, as mmdetection's FPN.
 */
export class Fpn<L extends FpnLevels = 'p3-p7'> {
  readonly parameters: ParameterStore;
  readonly levels: L;
  readonly outChannels: number;
  readonly extraInput: 'c5' | 'p5';
  /** The inputs `apply` reads, finest first. */
  readonly inputNames: readonly ResNetFeatureName[];
  /** Output level names, finest first. */
  readonly levelNames: readonly FpnLevelNames<L>[];
  /** Channels and stride of every output level (inputs at ResNet strides 4–32). */
  readonly outputShapes: Record<FpnLevelNames<L>, FeatureShape>;
  private readonly inner: Conv2d[];
  private readonly layer: Conv2d[];
  private readonly p6: Conv2d | undefined;
  private readonly p7: Conv2d | undefined;

  constructor(options: FpnOptions<L>) {
    this.levels = (options.levels ?? 'p3-p7') as L;
    if (this.levels !== 'p3-p7' && this.levels !== 'p2-p6') {
      throw new Error(`FPN levels '${this.levels}' is not 'p3-p7' or 'p2-p6'`);
    }
    const expectedInputs = this.levels === 'p3-p7' ? 3 : 4;
    if (options.inChannels.length !== expectedInputs) {
      throw new Error(
        `FPN levels '${this.levels}' takes ${expectedInputs} inputs (${this.levels === 'p3-p7' ? 'C3–C5' : 'C2–C5'}), got inChannels [${options.inChannels.join(', ')}]`,
      );
    }
    for (const channels of options.inChannels) {
      if (!Number.isInteger(channels) || channels < 1) {
        throw new Error(`FPN inChannels must be positive integers, got ${channels}`);
      }
    }
    this.outChannels = options.outChannels ?? 256;
    if (!Number.isInteger(this.outChannels) || this.outChannels < 1) {
      throw new Error(`FPN outChannels must be a positive integer, got ${this.outChannels}`);
    }
    this.extraInput = options.extraInput ?? 'c5';
    if (this.extraInput !== 'c5' && this.extraInput !== 'p5') {
      throw new Error(`FPN extraInput '${this.extraInput}' is not 'c5' or 'p5'`);
    }
    this.parameters = options.store ?? new ParameterStore();
    this.inputNames = INPUT_NAMES.slice(4 - expectedInputs);
    const first = this.levels === 'p3-p7' ? 1 : 0;
    this.levelNames = LEVEL_NAMES.slice(first, first + 5) as FpnLevelNames<L>[];
    const shapes: Partial<Record<FpnLevelName, FeatureShape>> = {};
    this.levelNames.forEach((name, index) => {
      shapes[name] = { channels: this.outChannels, stride: 2 ** (first + 2 + index) };
    });
    this.outputShapes = shapes as Record<FpnLevelNames<L>, FeatureShape>;

    const init = { weightInit: xavierUniform(), biasInit: zeros };
    const store = this.parameters;
    this.inner = options.inChannels.map(
      (inChannels, index) =>
        new Conv2d(store.scope(`inner_blocks.${index}.0`), {
          inChannels,
          outChannels: this.outChannels,
          kernelSize: 1,
          ...init,
        }),
    );
    this.layer = options.inChannels.map(
      (_, index) =>
        new Conv2d(store.scope(`layer_blocks.${index}.0`), {
          inChannels: this.outChannels,
          outChannels: this.outChannels,
          kernelSize: 3,
          padding: 1,
          ...init,
        }),
    );
    if (this.levels === 'p3-p7') {
      const extraIn =
        this.extraInput === 'c5' ? (options.inChannels.at(-1) as number) : this.outChannels;
      const extra = store.scope('extra_blocks');
      const conv = (name: string, inChannels: number) =>
        new Conv2d(extra.scope(name), {
          inChannels,
          outChannels: this.outChannels,
          kernelSize: 3,
          stride: 2,
          padding: 1,
          ...init,
        });
      this.p6 = conv('p6', extraIn);
      this.p7 = conv('p7', this.outChannels);
    }
  }

  /** Builds the pyramid from backbone features (a ResNet's `{ c2, c3, c4, c5 }` works as is). */
  apply(features: FpnInputs): FpnOutputs<L> {
    const inputs = this.inputNames.map((name, index) => {
      const feature = features[name];
      if (!feature) {
        throw new Error(`FPN input '${name}' is missing (needs ${this.inputNames.join(', ')})`);
      }
      const channels = this.inner[index]?.options.inChannels;
      if (feature.rank !== 4 || feature.shape[3] !== channels) {
        throw new Error(
          `FPN input '${name}' must be NHWC with ${channels} channels, got shape [${feature.shape.join(', ')}]`,
        );
      }
      return feature;
    });
    return tf.tidy(() => {
      const last = inputs.length - 1;
      let topDown = (this.inner[last] as Conv2d).apply(inputs[last] as tf.Tensor4D);
      const results: tf.Tensor4D[] = [(this.layer[last] as Conv2d).apply(topDown)];
      for (let index = last - 1; index >= 0; index--) {
        const lateral = (this.inner[index] as Conv2d).apply(inputs[index] as tf.Tensor4D);
        const [, height, width] = lateral.shape;
        topDown = tf.add(lateral, upsampleNearest(topDown, height, width));
        results.unshift((this.layer[index] as Conv2d).apply(topDown));
      }
      const p5 = results[results.length - 1] as tf.Tensor4D;
      if (this.p6 && this.p7) {
        const p6 = this.p6.apply(this.extraInput === 'c5' ? (inputs[last] as tf.Tensor4D) : p5);
        results.push(p6, this.p7.apply(tf.relu(p6)));
      } else {
        // torchvision's LastLevelMaxPool / mmdetection: F.max_pool2d(P5, 1, stride=2).
        results.push(tf.maxPool(p5, 1, 2, 'valid') as tf.Tensor4D);
      }
      const out: Partial<Record<FpnLevelName, tf.Tensor4D>> = {};
      this.levelNames.forEach((name, index) => {
        out[name] = results[index] as tf.Tensor4D;
      });
      return out as FpnOutputs<L>;
    });
  }

  dispose(): void {
    this.parameters.dispose();
  }
}

/** An FPN neck; see `FpnOptions`. */
export function createFpn<L extends FpnLevels = 'p3-p7'>(options: FpnOptions<L>): Fpn<L> {
  return new Fpn(options);
}
