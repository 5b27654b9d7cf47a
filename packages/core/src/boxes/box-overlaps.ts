import * as tf from '@tensorflow/tfjs-core';
import { assertBoxes2D } from './validate-boxes';

/** `iou`: intersection over union; `iof`: intersection over the area of the first box (foreground). */
export type OverlapMode = 'iou' | 'iof';

export interface BoxOverlapsOptions {
  mode?: OverlapMode;
  /**
   * Lower bound of the denominator (mmdetection's `bbox_overlaps` eps), so two zero-area
   * boxes overlap 0 instead of torchvision's NaN. Default 1e-6.
   */
  eps?: number;
}

/** A function from `[N, 4]` and `[M, 4]` xyxy boxes to their `[N, M]` overlaps. */
export type BoxOverlapsFn = (a: tf.Tensor2D, b: tf.Tensor2D, mode: OverlapMode) => tf.Tensor2D;

/**
 * Pairwise overlaps of `[N, 4]` and `[M, 4]` xyxy boxes → `[N, M]` float32, differentiable.
 * Same arithmetic, in the same order, as torchvision's `box_iou` (areas without +1), so
 * float32 results match bit for bit wherever the union exceeds `eps`.
 */
export function boxOverlaps(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  options: BoxOverlapsOptions = {},
): tf.Tensor2D {
  const mode = options.mode ?? 'iou';
  const eps = options.eps ?? 1e-6;
  if (mode !== 'iou' && mode !== 'iof') {
    throw new Error(`boxOverlaps: mode must be 'iou' or 'iof', got '${String(mode)}'`);
  }
  assertBoxes2D(a, 'boxOverlaps', 'a');
  assertBoxes2D(b, 'boxOverlaps', 'b');
  const m = b.shape[0];
  return tf.tidy(() => {
    // a's coordinates as [N, 1] columns, b's as [1, M] rows. The wasm backend broadcasts
    // Add/Sub/Mul fast but Minimum/Maximum ~50× slower, so both sides are expanded to
    // [N, M] with an exact `+ 0` before the same-shape minimum/maximum.
    const [ax1, ay1, ax2, ay2] = tf.split(a, 4, 1);
    const [bx1, by1, bx2, by2] = tf.split(b, 4, 1).map((column) => tf.reshape(column, [1, m]));
    const zeros = tf.zeros([a.shape[0], m]);
    const full = (t: tf.Tensor) => tf.add(t, zeros);
    const areaA = tf.mul(tf.sub(ax2!, ax1!), tf.sub(ay2!, ay1!));
    const areaB = tf.mul(tf.sub(bx2!, bx1!), tf.sub(by2!, by1!));
    const width = tf.relu(
      tf.sub(tf.minimum(full(ax2!), full(bx2!)), tf.maximum(full(ax1!), full(bx1!))),
    );
    const height = tf.relu(
      tf.sub(tf.minimum(full(ay2!), full(by2!)), tf.maximum(full(ay1!), full(by1!))),
    );
    const intersection = tf.mul(width, height);
    const denominator = mode === 'iou' ? tf.sub(tf.add(areaA, areaB), intersection) : areaA;
    // clipByValue, not maximum with a scalar: same values, far faster on wasm.
    return tf.div(
      intersection,
      tf.clipByValue(denominator, eps, Number.POSITIVE_INFINITY),
    ) as tf.Tensor2D;
  });
}

/** Pairwise IoU `[N, M]` of xyxy boxes (torchvision's `box_iou`). */
export function boxIou(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return boxOverlaps(a, b, { mode: 'iou' });
}

/** Pairwise intersection over the area of `a`'s box, `[N, M]` (mmdetection's `mode='iof'`). */
export function boxIof(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return boxOverlaps(a, b, { mode: 'iof' });
}

/** The default overlap function assigners use. */
export const defaultBoxOverlaps: BoxOverlapsFn = (a, b, mode) => boxOverlaps(a, b, { mode });
