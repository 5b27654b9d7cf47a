import * as tf from '@tensorflow/tfjs-core';
import { checkFloat, checkNumber, checkSameShape } from './checks';
import { checkWeightedOptions, type WeightedLossOptions, weightReduceLoss } from './reduction';
import { absSignGradient, smoothL1OfDistance } from './stable-ops';

export interface SmoothL1LossOptions extends WeightedLossOptions {
  /** Width of the quadratic zone; 0 is L1. Default 1 (torch, mmdetection). */
  beta?: number;
}

function checkPair(
  name: string,
  pred: tf.Tensor,
  target: tf.Tensor,
  options: WeightedLossOptions,
): void {
  checkFloat(name, 'pred', pred);
  checkFloat(name, 'target', target);
  checkSameShape(name, pred, target);
  checkWeightedOptions(name, options);
}

/**
 * Smooth L1 (Girshick, "Fast R-CNN", eq. 3, with torch's `beta`): for `d = |pred − target|`,
 * `0.5·d²/β` when `d < β`, else `d − 0.5·β`; β = 0 is L1 (torch `F.smooth_l1_loss`).
 * Elementwise loss has `pred`'s shape; then mmdetection's weighting and reduction.
 */
export function smoothL1Loss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: SmoothL1LossOptions = {},
): tf.Tensor {
  const name = 'smoothL1Loss';
  const { beta = 1 } = options;
  checkNumber(name, 'beta', beta, { min: 0 });
  checkPair(name, pred, target, options);
  return tf.tidy(() =>
    weightReduceLoss(
      name,
      smoothL1OfDistance(absSignGradient(tf.sub(pred, target)), beta),
      options,
    ),
  );
}

/**
 * L1, `|pred − target|` elementwise (torch `F.l1_loss`; gradient `sign(pred − target)`, 0 at
 * a tie as in torch), then mmdetection's weighting and reduction.
 */
export function l1Loss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: WeightedLossOptions = {},
): tf.Tensor {
  const name = 'l1Loss';
  checkPair(name, pred, target, options);
  return tf.tidy(() => weightReduceLoss(name, absSignGradient(tf.sub(pred, target)), options));
}
