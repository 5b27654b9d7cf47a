import { type ParameterStore, zeros } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

export interface GroupNorm2dOptions {
  channels: number;
  /** Groups; must divide `channels`. Wu & He 2018 use 32. */
  groups: number;
  eps?: number;
}

/**
 * Group Normalization (Wu & He 2018, eq. 1 with Si = one group of C/G channels over H×W):
 * the same statistics at training and test time, so a from-scratch backbone normalises its
 * activations at any batch size (mmdetection's `norm_cfg=dict(type='GN')` scratch configs).
 * Parameters `weight` (γ, ones) and `bias` (β, zeros), as `torch.nn.GroupNorm`.
 */
export class GroupNorm2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly groups: number;
  readonly eps: number;

  constructor(store: ParameterStore, options: GroupNorm2dOptions) {
    const { channels, groups } = options;
    if (!(Number.isInteger(groups) && groups > 0 && channels % groups === 0)) {
      throw new Error(
        `GroupNorm2d: groups ${groups} must be a positive divisor of channels ${channels}`,
      );
    }
    this.groups = groups;
    this.eps = options.eps ?? 1e-5;
    this.weight = store.create('weight', tf.ones([channels]));
    this.bias = store.create('bias', zeros([channels]));
  }

  apply(input: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, c] = input.shape;
      const grouped = tf.reshape(input, [n, h, w, this.groups, c / this.groups]);
      const { mean, variance } = tf.moments(grouped, [1, 2, 4], true);
      const normalised = tf.reshape(
        tf.div(tf.sub(grouped, mean), tf.sqrt(tf.add(variance, this.eps))),
        [n, h, w, c],
      );
      return tf.add(tf.mul(normalised, this.weight), this.bias) as tf.Tensor4D;
    });
  }
}
