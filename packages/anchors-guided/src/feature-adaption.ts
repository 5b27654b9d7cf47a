import { deformConv2d, maskedDeformConv2d, normal, type ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { detach } from './detach';

export interface FeatureAdaptionOptions {
  inChannels: number;
  outChannels: number;
  /** Side of the deformable kernel (GA §3.3: 3). Default 3. */
  kernelSize?: number;
  /** Offset groups of the deformable conv (mmdetection `deform_groups`, 4). Default 4. */
  deformGroups?: number;
  /** Std of the offset conv's normal init (mmdetection 0.1). Default 0.1. */
  offsetStd?: number;
  /** Std of the deformable conv's normal init (mmdetection 0.01). Default 0.01. */
  weightStd?: number;
}

/**
 * GA's feature adaption (§3.3, eq. 5): `f'_i = N_T(f_i, w_i, h_i)`: a 1×1 conv without bias
 * turns the shape prediction (dw, dh) into the offsets of a k×k deformable conv
 * (2 → 2·G·k²), which then resamples the feature map; ReLU follows. The shape prediction is
 * detached, as in mmdetection: the adaption must not train the shape branch.
 * Parameters: `conv_offset.weight` `[1, 1, 2, 2·G·k²]`, `conv_adaption.weight` `[k, k, C, O]`.
 */
export class FeatureAdaption {
  readonly offsetWeight: tf.Variable;
  readonly adaptionWeight: tf.Variable;
  readonly kernelSize: number;
  readonly deformGroups: number;

  constructor(store: ParameterStore, options: FeatureAdaptionOptions) {
    const kernelSize = options.kernelSize ?? 3;
    const deformGroups = options.deformGroups ?? 4;
    if (!(Number.isInteger(kernelSize) && kernelSize % 2 === 1)) {
      throw new Error(`FeatureAdaption: kernelSize must be an odd integer, got ${kernelSize}`);
    }
    if (
      !(
        Number.isInteger(deformGroups) &&
        deformGroups > 0 &&
        options.inChannels % deformGroups === 0
      )
    ) {
      throw new Error(
        `FeatureAdaption: deformGroups (${deformGroups}) must divide inChannels (${options.inChannels})`,
      );
    }
    this.kernelSize = kernelSize;
    this.deformGroups = deformGroups;
    this.offsetWeight = store
      .scope('conv_offset')
      .create(
        'weight',
        normal({ std: options.offsetStd ?? 0.1 })([
          1,
          1,
          2,
          2 * deformGroups * kernelSize * kernelSize,
        ]),
      );
    this.adaptionWeight = store
      .scope('conv_adaption')
      .create(
        'weight',
        normal({ std: options.weightStd ?? 0.01 })([
          kernelSize,
          kernelSize,
          options.inChannels,
          options.outChannels,
        ]),
      );
  }

  /** `feature` `[B, H, W, C]`, `shapePred` `[B, H, W, 2]` → `[B, H, W, O]`. */
  apply(feature: tf.Tensor4D, shapePred: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const offset = tf.conv2d(detach(shapePred), this.offsetWeight as tf.Tensor4D, 1, 'valid');
      const adapted = deformConv2d(feature, offset, this.adaptionWeight as tf.Tensor4D, {
        pad: (this.kernelSize - 1) / 2,
        deformGroups: this.deformGroups,
      });
      return tf.relu(adapted);
    });
  }

  /**
   * `apply` at some positions only (sparse inference): `shapeRows` `[N, 2]` is the shape
   * prediction at the flat positions b·H·W + y·W + x (ascending) of `feature` `[B, H, W, C]`.
   * The offsets are computed from those rows only and the deformable conv runs at those
   * positions only (`maskedDeformConv2d`). Returns `[N, O]`, the rows of `apply` there.
   */
  applyAt(feature: tf.Tensor4D, shapeRows: tf.Tensor2D, positions: Int32Array): tf.Tensor2D {
    return tf.tidy(() => {
      const [, , , offsetChannels] = this.offsetWeight.shape as number[];
      const offset = tf.matMul(
        shapeRows,
        tf.reshape(this.offsetWeight, [2, offsetChannels as number]) as tf.Tensor2D,
      );
      const adapted = maskedDeformConv2d(
        feature,
        offset,
        this.adaptionWeight as tf.Tensor4D,
        positions,
        { pad: (this.kernelSize - 1) / 2, deformGroups: this.deformGroups },
      );
      return tf.relu(adapted);
    });
  }
}
