import { Conv2d, normal, type ParameterStore, priorProbabilityBias, zeros } from '@det/core';
import type * as tf from '@tensorflow/tfjs-core';

export interface LocationBranchOptions {
  inChannels: number;
  /** Initial probability of the bias (RetinaNet's prior, GA §3.1 / mmdetection `conv_loc`). Default 0.01. */
  priorProbability?: number;
  /** Std of the weight's normal init (mmdetection 0.01). Default 0.01. */
  weightStd?: number;
}

/**
 * GA's location branch (§3.1): a 1×1 conv giving one objectness logit per position; the
 * probability p(i, j | F) is its sigmoid. Parameters `weight` / `bias` in the given scope
 * (mmdetection `conv_loc`).
 */
export class LocationBranch {
  readonly conv: Conv2d;

  constructor(store: ParameterStore, options: LocationBranchOptions) {
    this.conv = new Conv2d(store, {
      inChannels: options.inChannels,
      outChannels: 1,
      kernelSize: 1,
      weightInit: normal({ std: options.weightStd ?? 0.01 }),
      biasInit: priorProbabilityBias(options.priorProbability ?? 0.01),
    });
  }

  /** `[B, H, W, C]` → `[B, H, W, 1]` logits. */
  apply(feature: tf.Tensor4D): tf.Tensor4D {
    return this.conv.apply(feature);
  }
}

export interface ShapeBranchOptions {
  inChannels: number;
  /** Std of the weight's normal init (mmdetection 0.01); bias starts at 0. Default 0.01. */
  weightStd?: number;
}

/**
 * GA's shape branch (§3.2): a 1×1 conv giving (dw, dh) per position, decoded by `decodeShape`
 * into `w = σ·s·e^dw`, `h = σ·s·e^dh` (mmdetection `conv_shape`).
 */
export class ShapeBranch {
  readonly conv: Conv2d;

  constructor(store: ParameterStore, options: ShapeBranchOptions) {
    this.conv = new Conv2d(store, {
      inChannels: options.inChannels,
      outChannels: 2,
      kernelSize: 1,
      weightInit: normal({ std: options.weightStd ?? 0.01 }),
      biasInit: zeros,
    });
  }

  /** `[B, H, W, C]` → `[B, H, W, 2]` (dw, dh). */
  apply(feature: tf.Tensor4D): tf.Tensor4D {
    return this.conv.apply(feature);
  }
}
