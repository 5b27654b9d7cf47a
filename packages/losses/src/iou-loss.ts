import * as tf from '@tensorflow/tfjs-core';
import { checkBoxes, checkNumber, checkSameShape, formatShape, sameShape } from './checks';
import { checkWeightedOptions, type WeightedLossOptions, weightReduceLoss } from './reduction';

export interface IouLossOptions extends WeightedLossOptions {
  /** `'log'`: −log(IoU) (UnitBox); `'linear'`: 1 − IoU. Default `'log'` (mmdetection). */
  mode?: 'log' | 'linear';
  /** Floor of the union and of the IoU before the log. Default 1e-6 (mmdetection). */
  eps?: number;
}

export interface GiouLossOptions extends WeightedLossOptions {
  /** Added to the union and to the enclosing area. Default 1e-7 (torchvision). */
  eps?: number;
}

interface BoxPair {
  pred: tf.Tensor1D[];
  target: tf.Tensor1D[];
}

function columns(pred: tf.Tensor, target: tf.Tensor): BoxPair {
  return {
    pred: tf.unstack(pred, 1) as tf.Tensor1D[],
    target: tf.unstack(target, 1) as tf.Tensor1D[],
  };
}

function area([x1, y1, x2, y2]: tf.Tensor1D[]): tf.Tensor {
  return tf.mul(tf.sub(x2!, x1!), tf.sub(y2!, y1!));
}

/**
 * Intersection of aligned pairs as the product of clamped overlaps: relu's gradient at 0 is 0,
 * so disjoint and zero-size pairs give 0, never NaN.
 */
function intersection({ pred, target }: BoxPair): tf.Tensor {
  const [px1, py1, px2, py2] = pred as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
  const [tx1, ty1, tx2, ty2] = target as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
  const width = tf.relu(tf.sub(tf.minimum(px2, tx2), tf.maximum(px1, tx1)));
  const height = tf.relu(tf.sub(tf.minimum(py2, ty2), tf.maximum(py1, ty1)));
  return tf.mul(width, height);
}

/** mmdetection's IoU/GIoU losses take a per-coordinate weight [N, 4] as its mean over coordinates. */
function boxOptions<T extends WeightedLossOptions>(name: string, count: number, options: T): T {
  const { weight } = options;
  if (weight === undefined || weight.rank !== 2) return options;
  if (!sameShape(weight.shape, [count, 4])) {
    throw new Error(
      `${name}: options.weight must have shape [${count}] or [${count},4], got ${formatShape(weight.shape)}`,
    );
  }
  return { ...options, weight: tf.mean(weight, -1) };
}

function checkBoxPair(
  name: string,
  pred: tf.Tensor,
  target: tf.Tensor,
  options: WeightedLossOptions,
): void {
  checkBoxes(name, 'pred', pred);
  checkBoxes(name, 'target', target);
  checkSameShape(name, pred, target);
  checkWeightedOptions(name, options);
}

/**
 * IoU loss of aligned (x1, y1, x2, y2) pairs as mmdetection's `iou_loss`: with
 * `IoU = inter / max(union, ε)` (`bbox_overlaps(is_aligned=True)`), `'log'` is
 * `−log(max(IoU, ε))` (Yu et al., "UnitBox", eq. 3) and `'linear'` is `1 − IoU`. Zero-size and
 * disjoint boxes give finite values and gradients. Elementwise loss is [N]; a weight of
 * [N, 4] is averaged over coordinates first (mmdetection).
 */
export function iouLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: IouLossOptions = {},
): tf.Tensor {
  const name = 'iouLoss';
  const { mode = 'log', eps = 1e-6 } = options;
  if (mode !== 'log' && mode !== 'linear') {
    throw new Error(`${name}: options.mode=${JSON.stringify(mode)} must be 'log' or 'linear'`);
  }
  checkNumber(name, 'eps', eps, { min: 0, minExclusive: true });
  checkBoxPair(name, pred, target, options);
  return tf.tidy(() => {
    const pair = columns(pred, target);
    const inter = intersection(pair);
    const union = tf.maximum(tf.sub(tf.add(area(pair.pred), area(pair.target)), inter), eps);
    const iou = tf.div(inter, union);
    const loss = mode === 'log' ? tf.neg(tf.log(tf.maximum(iou, eps))) : tf.sub(1, iou);
    return weightReduceLoss(name, loss, boxOptions(name, pred.shape[0] as number, options));
  });
}

/**
 * Generalized IoU loss (Rezatofighi et al., "Generalized Intersection over Union", Alg. 2) of
 * aligned (x1, y1, x2, y2) pairs, exactly as torchvision's `generalized_box_iou_loss`:
 * `1 − IoU + (C − U)/(C + ε)`, `IoU = I/(U + ε)`, C the smallest enclosing box's area.
 * Zero-size boxes give finite values and gradients. Elementwise loss is [N]; a weight of
 * [N, 4] is averaged over coordinates first (mmdetection).
 */
export function giouLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options: GiouLossOptions = {},
): tf.Tensor {
  const name = 'giouLoss';
  const { eps = 1e-7 } = options;
  checkNumber(name, 'eps', eps, { min: 0, minExclusive: true });
  checkBoxPair(name, pred, target, options);
  return tf.tidy(() => {
    const pair = columns(pred, target);
    const inter = intersection(pair);
    const union = tf.sub(tf.add(area(pair.pred), area(pair.target)), inter);
    const iou = tf.div(inter, tf.add(union, eps));
    const [px1, py1, px2, py2] = pair.pred as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
    const [tx1, ty1, tx2, ty2] = pair.target as [
      tf.Tensor1D,
      tf.Tensor1D,
      tf.Tensor1D,
      tf.Tensor1D,
    ];
    const enclosing = tf.mul(
      tf.sub(tf.maximum(px2, tx2), tf.minimum(px1, tx1)),
      tf.sub(tf.maximum(py2, ty2), tf.minimum(py1, ty1)),
    );
    const penalty = tf.div(tf.sub(enclosing, union), tf.add(enclosing, eps));
    const loss = tf.add(tf.sub(1, iou), penalty);
    return weightReduceLoss(name, loss, boxOptions(name, pred.shape[0] as number, options));
  });
}
