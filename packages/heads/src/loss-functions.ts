import {
  binaryCrossEntropyWithLogits,
  l1Loss,
  sigmoidFocalLoss,
  smoothL1Loss,
  softmaxCrossEntropy,
} from '@det/losses';
import * as tf from '@tensorflow/tfjs-core';
import type { ClassificationLoss, RegressionLoss } from './types';

/** RetinaNet's sigmoid focal loss (Lin et al. 2017, eq. 5; α = 0.25, γ = 2 by default). */
export function focalClassificationLoss(
  options: { alpha?: number; gamma?: number } = {},
): ClassificationLoss {
  return (logits, labels, weights) =>
    sigmoidFocalLoss(logits, labels, {
      ...options,
      weight: weights,
      reduction: 'sum',
    }) as tf.Scalar;
}

/**
 * Per-class sigmoid cross-entropy (mmdetection's `CrossEntropyLoss(use_sigmoid=True)`, the
 * RPN objectness loss): label `K` (background) is an all-zero target row.
 */
export function sigmoidClassificationLoss(): ClassificationLoss {
  return (logits, labels, weights) =>
    tf.tidy(() => {
      const [rows, classes] = logits.shape;
      // One extra column for the background label K (tf.oneHot also refuses depth 1).
      const target = tf.slice(
        tf.cast(tf.oneHot(labels, classes + 1), 'float32'),
        [0, 0],
        [rows, classes],
      );
      return binaryCrossEntropyWithLogits(logits, target, {
        weight: weights,
        reduction: 'sum',
      }) as tf.Scalar;
    });
}

/** Softmax cross-entropy over `K + 1` logits, the R-CNN classifier (background = index K). */
export function softmaxClassificationLoss(): ClassificationLoss {
  return (logits, labels, weights) =>
    softmaxCrossEntropy(logits, labels, { weight: weights, reduction: 'sum' }) as tf.Scalar;
}

/** L1 on encoded deltas (mmdetection's RetinaNet / RPN / Faster R-CNN 1× default). */
export function l1RegressionLoss(): RegressionLoss {
  return (pred, target) => l1Loss(pred, target, { reduction: 'sum' }) as tf.Scalar;
}

/** Smooth L1 with `beta` (Fast R-CNN eq. 3; detectron2's RetinaNet uses β = 0.1). */
export function smoothL1RegressionLoss(options: { beta?: number } = {}): RegressionLoss {
  return (pred, target) =>
    smoothL1Loss(pred, target, { ...options, reduction: 'sum' }) as tf.Scalar;
}
