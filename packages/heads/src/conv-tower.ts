import { Conv2d, normal, type ParameterStore, zeros } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

export interface ConvTowerOptions {
  store: ParameterStore;
  inChannels: number;
  channels: number;
  /** Number of 3×3 conv + ReLU layers (RetinaNet: 4; RPN: 1). */
  numConvs: number;
  /** Std of the normal weight init (RetinaNet / RPN heads: 0.01). */
  weightStd?: number;
}

/**
 * A stack of 3×3 conv + ReLU layers shared by all FPN levels, named as mmdetection's
 * `cls_convs.{i}.conv`.
 */
export class ConvTower {
  readonly convs: Conv2d[];
  readonly outChannels: number;

  constructor(options: ConvTowerOptions) {
    if (!(Number.isInteger(options.numConvs) && options.numConvs >= 0)) {
      throw new Error(`ConvTower: numConvs must be an integer ≥ 0, got ${options.numConvs}`);
    }
    const weightInit = normal({ std: options.weightStd ?? 0.01 });
    this.convs = Array.from(
      { length: options.numConvs },
      (_, i) =>
        new Conv2d(options.store.scope(`${i}.conv`), {
          inChannels: i === 0 ? options.inChannels : options.channels,
          outChannels: options.channels,
          kernelSize: 3,
          padding: 1,
          weightInit,
          biasInit: zeros,
        }),
    );
    this.outChannels = options.numConvs === 0 ? options.inChannels : options.channels;
  }

  apply(input: tf.Tensor4D): tf.Tensor4D {
    if (this.convs.length === 0) return tf.clone(input);
    return tf.tidy(() => this.convs.reduce((x, conv) => tf.relu(conv.apply(x)), input));
  }
}
