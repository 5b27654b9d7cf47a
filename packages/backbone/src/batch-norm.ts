import { type ParameterStore, zeros } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

export interface BatchNorm2dOptions {
  channels: number;
  eps?: number;
  /** Weight of the newest batch in the running statistics, as torch's `momentum`. Default 0.1. */
  momentum?: number;
}

/** How a norm layer runs: training uses batch statistics; eval the running ones. */
export interface NormMode {
  training?: boolean;
  /**
   * Training only: fold this batch into the running statistics (default true). False for a
   * second forward of the same batch in one step (a two-phase step's prepare pass), so the
   * statistics move once per step as in PyTorch.
   */
  updateStatistics?: boolean;
}

/**
 * BatchNorm (Ioffe & Szegedy 2015) as `torch.nn.BatchNorm2d`: in training, each channel is
 * normalised by its mean and biased variance over N×H×W and the running statistics move by
 * `momentum` toward them (the variance unbiased, n/(n−1)); in eval, the running statistics
 * normalise. For backbones trained from scratch, where frozen identity statistics leave
 * activations unscaled (torchvision's detection models train this way with `norm_layer=BatchNorm2d`).
 * Parameters `weight`, `bias`, `running_mean`, `running_var`, torchvision's names.
 */
export class BatchNorm2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly eps: number;
  readonly momentum: number;
  /** The store's prefix (e.g. `backbone.body.layer4.1.bn2.`), for errors. */
  private readonly where: string;

  constructor(store: ParameterStore, options: BatchNorm2dOptions) {
    this.where = store.prefix ? ` ${store.prefix.replace(/\.$/, '')}` : '';
    const { channels } = options;
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`BatchNorm2d: momentum ${this.momentum} must be in [0, 1]`);
    }
    this.weight = store.create('weight', tf.ones([channels]));
    this.bias = store.create('bias', zeros([channels]));
    this.runningMean = store.create('running_mean', zeros([channels]), { trainable: false });
    this.runningVar = store.create('running_var', tf.ones([channels]), { trainable: false });
  }

  apply(input: tf.Tensor4D, mode: NormMode = {}): tf.Tensor4D {
    return tf.tidy(() => {
      if (!mode.training) {
        const scale = tf.mul(this.weight, tf.rsqrt(tf.add(this.runningVar, this.eps)));
        const shift = tf.sub(this.bias, tf.mul(this.runningMean, scale));
        return tf.add(tf.mul(input, scale), shift);
      }
      const [n, h, w] = input.shape;
      const count = n * h * w;
      if (count < 2) {
        // torch refuses too: one value per channel has no variance to normalise by.
        throw new Error(
          `BatchNorm2d${this.where}: training needs more than one value per channel, got input [${input.shape.join(', ')}] (a larger batch or image, or norm 'group')`,
        );
      }
      // Per-channel sums as products with a row of ones: a reduction over the leading axes
      // of NHWC would transpose first on wasm (2× slower, measured, same values); two passes
      // (mean, then the centred squares) as torch's CPU kernel, not E[x²] − mean².
      const flat = tf.reshape(input, [count, input.shape[3]]);
      const ones = tf.ones([1, count]);
      const mean = tf.div(tf.matMul(ones, flat), count);
      const centred = tf.sub(flat, mean);
      const variance = tf.div(tf.matMul(ones, tf.square(centred)), count);
      if (mode.updateStatistics ?? true) {
        // Assigned values are not on the loss's path, so no gradient flows through them.
        const keep = 1 - this.momentum;
        this.runningMean.assign(
          tf.add(tf.mul(this.runningMean, keep), tf.mul(tf.reshape(mean, [-1]), this.momentum)),
        );
        this.runningVar.assign(
          tf.add(
            tf.mul(this.runningVar, keep),
            tf.mul(tf.reshape(variance, [-1]), (this.momentum * count) / (count - 1)),
          ),
        );
      }
      const scale = tf.mul(this.weight, tf.rsqrt(tf.add(variance, this.eps)));
      return tf.reshape(tf.add(tf.mul(centred, scale), this.bias), input.shape);
    });
  }
}
