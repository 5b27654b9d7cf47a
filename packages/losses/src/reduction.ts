import * as tf from '@tensorflow/tfjs-core';
import { formatShape, sameShape } from './checks';

/** How an elementwise loss is reduced (mmdetection's `reduction`). */
export type Reduction = 'none' | 'mean' | 'sum';

/** The weighting and reduction every det loss accepts (mmdetection's `weighted_loss` contract). */
export interface WeightedLossOptions {
  /**
   * Elementwise weight. Same shape as the elementwise loss, the loss shape without its last
   * axis (one weight per anchor for a per-class loss), or any shape that broadcasts to it.
   */
  weight?: tf.Tensor;
  /** Defaults to `'mean'` (mmdetection's default). */
  reduction?: Reduction;
  /**
   * With `'mean'`, the loss is `sum(weight · loss) / (avgFactor + ε32)` instead of the mean over
   * elements (typically the number of positive anchors). Ignored with `'none'`; an error with
   * `'sum'`. A tensor is accepted so the caller need not read the count back.
   */
  avgFactor?: number | tf.Scalar;
}

/** float32 machine epsilon: mmdetection adds `torch.finfo(torch.float32).eps` to avg_factor. */
export const FLOAT32_EPS = 1.1920928955078125e-7;

const reductions: readonly Reduction[] = ['none', 'mean', 'sum'];

/** Checks options up front, so a bad call fails before any tensor is made. */
export function checkWeightedOptions(lossName: string, options: WeightedLossOptions): Reduction {
  const reduction = options.reduction ?? 'mean';
  if (!reductions.includes(reduction)) {
    throw new Error(
      `${lossName}: options.reduction=${JSON.stringify(reduction)} must be one of ${reductions.join(', ')}`,
    );
  }
  const { avgFactor } = options;
  if (avgFactor !== undefined) {
    if (reduction === 'sum') {
      throw new Error(
        `${lossName}: options.avgFactor cannot be used with reduction 'sum' (mmdetection)`,
      );
    }
    if (typeof avgFactor === 'number' && !(Number.isFinite(avgFactor) && avgFactor >= 0)) {
      throw new Error(`${lossName}: options.avgFactor=${avgFactor} must be a finite number >= 0`);
    }
    if (typeof avgFactor !== 'number' && avgFactor.rank !== 0) {
      throw new Error(
        `${lossName}: options.avgFactor must be a number or a scalar tensor, got shape ${formatShape(avgFactor.shape)}`,
      );
    }
  }
  return reduction;
}

/** Broadcasts `weight` onto `lossShape` by mmdetection's rules, or fails naming both shapes. */
function alignWeight(lossName: string, weight: tf.Tensor, lossShape: readonly number[]): tf.Tensor {
  // mmdetection's focal loss: a weight per anchor [N] applies to all C classes of [N, C].
  const prefixOnly =
    weight.rank === lossShape.length - 1 && sameShape(weight.shape, lossShape.slice(0, -1));
  const aligned = prefixOnly ? tf.expandDims(weight, -1) : weight;
  let broadcast: number[] | undefined;
  try {
    broadcast = tf.broadcast_util.assertAndGetBroadcastShape(aligned.shape, [...lossShape]);
  } catch {
    broadcast = undefined;
  }
  if (broadcast === undefined || !sameShape(broadcast, lossShape)) {
    throw new Error(
      `${lossName}: options.weight has shape ${formatShape(weight.shape)}, which does not broadcast to the loss shape ${formatShape(lossShape)}`,
    );
  }
  return aligned;
}

/**
 * Sum of all elements. tfjs-backend-wasm 4.22's Sum of an EMPTY tensor returns uninitialised
 * memory (measured: ~3.6e-41, varying), so an empty input is summed with one zero appended;
 * the pad keeps the result on the tape for tf.grad.
 */
export function sumAll(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => (x.size === 0 ? tf.sum(tf.pad(tf.reshape(x, [-1]), [[0, 1]])) : tf.sum(x)));
}

/**
 * mmdetection's `weight_reduce_loss`: multiply by `weight`, then reduce. `'mean'` with
 * `avgFactor` is `sum / (avgFactor + ε32)`; without it, the mean over elements, where the
 * mean of an empty loss is 0 rather than torch's NaN (so empty batches stay finite).
 */
export function weightReduceLoss(
  lossName: string,
  loss: tf.Tensor,
  options: WeightedLossOptions,
): tf.Tensor {
  const reduction = checkWeightedOptions(lossName, options);
  return tf.tidy(() => {
    const weighted =
      options.weight === undefined
        ? loss
        : tf.mul(loss, alignWeight(lossName, options.weight, loss.shape));
    if (reduction === 'none') return weighted;
    const total = sumAll(weighted);
    if (reduction === 'sum') return total;
    const { avgFactor } = options;
    if (avgFactor === undefined) return tf.div(total, Math.max(loss.size, 1));
    return tf.div(total, tf.add(avgFactor, FLOAT32_EPS));
  });
}
