import * as tf from '@tensorflow/tfjs-core';
import { checkBoxes, checkNumber, checkSameShape } from './checks';
import { checkWeightedOptions, type WeightedLossOptions, weightReduceLoss } from './reduction';
import { absSignGradient, smoothL1OfDistance, stopGradient } from './stable-ops';

export interface BoundedIouLossOptions extends WeightedLossOptions {
  /** Smooth-L1 β applied to each bounded term. Default 0.2 (mmdetection, Guided Anchoring). */
  beta?: number;
  /** Added to the denominators. Default 1e-3 (mmdetection). */
  eps?: number;
}

function checkOptions(name: string, options: BoundedIouLossOptions): { beta: number; eps: number } {
  const { beta = 0.2, eps = 1e-3 } = options;
  checkNumber(name, 'beta', beta, { min: 0 });
  checkNumber(name, 'eps', eps, { min: 0, minExclusive: true });
  checkWeightedOptions(name, options);
  return { beta, eps };
}

/** `1 − min(g/(p + ε), p/(g + ε))`: the bound on IoU from one side length (Tychsen-Smith eq. 9). */
function sizeTerm(pred: tf.Tensor, target: tf.Tensor, eps: number): tf.Tensor {
  return tf.sub(
    1,
    tf.minimum(tf.div(target, tf.add(pred, eps)), tf.div(pred, tf.add(target, eps))),
  );
}

/**
 * Bounded IoU loss (Tychsen-Smith & Petersson, "Improving Object Localization with Fitness
 * NMS and Bounded IoU Loss", eq. 7–9) exactly as mmdetection's `bounded_iou_loss`, the loss
 * Guided Anchoring's shape branch uses. For (x1, y1, x2, y2) pairs, with centres c, sizes w/h
 * and Δx = c_x^g − c_x:
 *   `Δx-term = 1 − max((w_g − 2|Δx|)/(w_g + 2|Δx| + ε), 0)` (likewise y),
 *   `w-term = 1 − min(w_g/(w + ε), w/(w_g + ε))` (likewise h),
 * and each of the four terms goes through smooth L1 with β. The target is treated as a
 * constant (no gradient), as mmdetection does. Elementwise loss is [N, 4] (x, y, w, h terms).
 */
export function boundedIouLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: BoundedIouLossOptions = {},
): tf.Tensor {
  const name = 'boundedIouLoss';
  const { beta, eps } = checkOptions(name, options);
  checkBoxes(name, 'pred', pred);
  checkBoxes(name, 'target', target);
  checkSameShape(name, pred, target);
  return tf.tidy(() => {
    const [px1, py1, px2, py2] = tf.unstack(pred, 1) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const [tx1, ty1, tx2, ty2] = tf.unstack(stopGradient(target), 1) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const predWidth = tf.sub(px2, px1);
    const predHeight = tf.sub(py2, py1);
    const targetWidth = tf.sub(tx2, tx1);
    const targetHeight = tf.sub(ty2, ty1);
    // 2|Δc| from doubled centres: (t1 + t2) − (p1 + p2).
    const twiceDx = absSignGradient(tf.sub(tf.add(tx1, tx2), tf.add(px1, px2)));
    const twiceDy = absSignGradient(tf.sub(tf.add(ty1, ty2), tf.add(py1, py2)));
    const centreTerm = (size: tf.Tensor, twiceDelta: tf.Tensor) =>
      tf.sub(1, tf.relu(tf.div(tf.sub(size, twiceDelta), tf.add(tf.add(size, twiceDelta), eps))));
    const terms = tf.stack(
      [
        centreTerm(targetWidth, twiceDx),
        centreTerm(targetHeight, twiceDy),
        sizeTerm(predWidth, targetWidth, eps),
        sizeTerm(predHeight, targetHeight, eps),
      ],
      -1,
    );
    return weightReduceLoss(name, smoothL1OfDistance(terms, beta), options);
  });
}

/**
 * Guided Anchoring's shape loss as the paper writes it (Wang et al., eq. 6): only the size
 * terms of the bounded IoU loss, anchor centres being fixed,
 *   `L_shape = L1(1 − min(w/w_g, w_g/w)) + L1(1 − min(h/h_g, h_g/h))`,
 * with L1 the smooth L1 of β and mmdetection's ε in the ratios. `pred` and `target` are
 * [N, 2] (w, h); the target is a constant. Elementwise loss is [N, 2] (w, h terms).
 */
export function boundedIouShapeLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: BoundedIouLossOptions = {},
): tf.Tensor {
  const name = 'boundedIouShapeLoss';
  const { beta, eps } = checkOptions(name, options);
  checkBoxes(name, 'pred', pred, 2);
  checkBoxes(name, 'target', target, 2);
  checkSameShape(name, pred, target);
  return tf.tidy(() => {
    const terms = sizeTerm(pred, stopGradient(target), eps);
    return weightReduceLoss(name, smoothL1OfDistance(terms, beta), options);
  });
}
