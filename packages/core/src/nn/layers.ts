import * as tf from '@tensorflow/tfjs-core';
import { type Initializer, torchDefaultUniform, zeros } from './initializers';
import type { ParameterStore } from './parameter-store';

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  /** Symmetric zero padding as in PyTorch (not tfjs' 'same', which pads asymmetrically). */
  padding?: number | [number, number];
  dilation?: number | [number, number];
  bias?: boolean;
  weightInit?: Initializer;
  biasInit?: Initializer;
}

/**
 * A 2-D convolution, NHWC input, HWIO filter `weight` and optional `bias`. Plain
 * `tf.conv2d` + `tf.add`: `tf.fused.conv2d` calls the filter-gradient kernel directly,
 * which wasm lacks (DESIGN.md).
 */
export class Conv2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly options: Required<Omit<Conv2dOptions, 'weightInit' | 'biasInit'>>;

  constructor(store: ParameterStore, options: Conv2dOptions) {
    const [kh, kw] = pair(options.kernelSize);
    this.options = {
      inChannels: options.inChannels,
      outChannels: options.outChannels,
      kernelSize: [kh, kw],
      stride: options.stride ?? 1,
      padding: options.padding ?? 0,
      dilation: options.dilation ?? 1,
      bias: options.bias ?? true,
    };
    const shape = [kh, kw, options.inChannels, options.outChannels];
    this.weight = store.create('weight', (options.weightInit ?? torchDefaultUniform())(shape));
    const fan = kh * kw * options.inChannels;
    this.bias = this.options.bias
      ? store.create(
          'bias',
          (options.biasInit ?? torchDefaultUniform({ fanIn: fan }))([options.outChannels]),
        )
      : undefined;
  }

  apply(input: tf.Tensor4D): tf.Tensor4D {
    return Conv2d.run(
      input,
      this.weight as tf.Tensor4D,
      this.bias as tf.Tensor1D | undefined,
      this.options,
    );
  }

  /** The convolution with explicit PyTorch-style padding, for callers holding their own filters. */
  static run(
    input: tf.Tensor4D,
    filter: tf.Tensor4D,
    bias: tf.Tensor1D | undefined,
    options: {
      stride?: number | [number, number];
      padding?: number | [number, number];
      dilation?: number | [number, number];
    },
  ): tf.Tensor4D {
    return tf.tidy(() => {
      const [ph, pw] = pair(options.padding ?? 0);
      const pad: tf.backend_util.ExplicitPadding = [
        [0, 0],
        [ph, ph],
        [pw, pw],
        [0, 0],
      ];
      const out = tf.conv2d(
        input,
        filter,
        pair(options.stride ?? 1),
        pad,
        'NHWC',
        pair(options.dilation ?? 1),
      );
      return bias ? tf.add(out, bias) : out;
    });
  }
}

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  weightInit?: Initializer;
  biasInit?: Initializer;
}

/** y = x·W + b with W stored [in, out]. */
export class Linear {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;

  constructor(store: ParameterStore, options: LinearOptions) {
    this.weight = store.create(
      'weight',
      (options.weightInit ?? torchDefaultUniform({ fanIn: options.inFeatures }))([
        options.inFeatures,
        options.outFeatures,
      ]),
    );
    this.bias =
      (options.bias ?? true)
        ? store.create(
            'bias',
            (options.biasInit ?? torchDefaultUniform({ fanIn: options.inFeatures }))([
              options.outFeatures,
            ]),
          )
        : undefined;
  }

  apply(input: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const out = tf.matMul(input, this.weight as tf.Tensor2D);
      return (this.bias ? tf.add(out, this.bias) : out) as tf.Tensor2D;
    });
  }
}

/**
 * BatchNorm with fixed statistics and affine parameters (detectron2's FrozenBatchNorm2d):
 * y = (x − mean)·γ/√(var + eps) + β. All four are non-trainable buffers by default;
 * `trainableAffine` lets γ and β learn while the statistics stay fixed.
 */
export class FrozenBatchNorm2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly eps: number;

  constructor(
    store: ParameterStore,
    options: { channels: number; eps?: number; trainableAffine?: boolean },
  ) {
    const trainable = options.trainableAffine ?? false;
    this.weight = store.create('weight', tf.ones([options.channels]), { trainable });
    this.bias = store.create('bias', zeros([options.channels]), { trainable });
    this.runningMean = store.create('running_mean', zeros([options.channels]), {
      trainable: false,
    });
    this.runningVar = store.create('running_var', tf.ones([options.channels]), {
      trainable: false,
    });
    this.eps = options.eps ?? 1e-5;
  }

  apply(input: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const scale = tf.mul(this.weight, tf.rsqrt(tf.add(this.runningVar, this.eps)));
      const shift = tf.sub(this.bias, tf.mul(this.runningMean, scale));
      return tf.add(tf.mul(input, scale), shift);
    });
  }
}
