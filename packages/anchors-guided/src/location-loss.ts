import { sigmoidFocalLoss } from '@det/losses';
import * as tf from '@tensorflow/tfjs-core';
import { LOCATION_IGNORE, LOCATION_POSITIVE } from './location-targets';

/**
 * What the location loss is divided by. mmdetection hides a constant here
 * (`loc_avg_factor = cells / 200` in `ga_loc_target`); we name it:
 * - `{ mode: 'positives' }`: the number of positive cells (at least 1), as RetinaNet's focal loss;
 * - `{ mode: 'cells', divisor }`: all cells of the batch over `divisor` (mmdetection: 200);
 * - `{ mode: 'constant', value }`: a fixed number.
 */
export type LocationNormalizer =
  | { mode: 'positives' }
  | { mode: 'cells'; divisor: number }
  | { mode: 'constant'; value: number };

export interface LocationLossOptions {
  /** Focal loss α (GA uses RetinaNet's). Default 0.25. */
  alpha?: number;
  /** Focal loss γ. Default 2. */
  gamma?: number;
  /** Default `{ mode: 'positives' }`. */
  normalizer?: LocationNormalizer;
  /**
   * Weight of a negative (OR) cell; positives weigh 1, ignored cells 0. mmdetection's
   * `ga_loc_target` gives negatives 0.1 (with the `cells / 200` normaliser); the paper states no
   * weight. Default 1.
   */
  negativeWeight?: number;
  /** Multiplies the loss (mmdetection `loss_loc.loss_weight`, 1). Default 1. */
  lossWeight?: number;
}

/**
 * The location branch's focal loss (GA §3.1, §3.4) over all levels: `logits` per level
 * `[B, H, W, 1]` (or `[B, H, W]`), `labels` per level `[B, H, W]` from `locationTargets`.
 * Positives (CR) have target 1, negatives 0, ignored cells weight 0. Returns a scalar.
 */
export function locationLoss(
  logits: readonly tf.Tensor[],
  labels: readonly tf.Tensor3D[],
  options: LocationLossOptions = {},
): tf.Scalar {
  if (logits.length !== labels.length) {
    throw new Error(
      `locationLoss: ${logits.length} logit levels for ${labels.length} label levels`,
    );
  }
  const normalizer = options.normalizer ?? { mode: 'positives' };
  const lossWeight = options.lossWeight ?? 1;
  const negativeWeight = options.negativeWeight ?? 1;
  if (!(negativeWeight >= 0)) {
    throw new Error(`locationLoss: negativeWeight must be ≥ 0, got ${negativeWeight}`);
  }
  return tf.tidy(() => {
    const flatLabels = tf.concat(labels.map((l) => tf.reshape(l, [-1])));
    const flatLogits = tf.concat(
      logits.map((l, level) => {
        const expected = labels[level]?.size;
        if (l.size !== expected) {
          throw new Error(
            `locationLoss: logits[${level}] has shape [${l.shape.join(', ')}], labels have ${expected} cells`,
          );
        }
        return tf.reshape(l, [-1, 1]);
      }),
    );
    const target = tf.cast(tf.reshape(tf.equal(flatLabels, LOCATION_POSITIVE), [-1, 1]), 'float32');
    // 1 at positives, negativeWeight at negatives, 0 at ignored cells.
    const counted = tf.cast(tf.notEqual(flatLabels, LOCATION_IGNORE), 'float32');
    const weight =
      negativeWeight === 1
        ? counted
        : tf.mul(
            counted,
            tf.add(tf.mul(tf.reshape(target, [-1]), 1 - negativeWeight), negativeWeight),
          );
    let avgFactor: number | tf.Scalar;
    if (normalizer.mode === 'positives') {
      avgFactor = tf.maximum(tf.sum(target), 1) as tf.Scalar;
    } else if (normalizer.mode === 'cells') {
      if (!(normalizer.divisor > 0)) {
        throw new Error(`locationLoss: normalizer.divisor must be > 0, got ${normalizer.divisor}`);
      }
      avgFactor = flatLabels.size / normalizer.divisor;
    } else {
      if (!(normalizer.value > 0)) {
        throw new Error(`locationLoss: normalizer.value must be > 0, got ${normalizer.value}`);
      }
      avgFactor = normalizer.value;
    }
    const loss = sigmoidFocalLoss(flatLogits, target, {
      alpha: options.alpha ?? 0.25,
      gamma: options.gamma ?? 2,
      weight: tf.reshape(weight, [-1, 1]),
      reduction: 'mean',
      avgFactor,
    });
    return tf.mul(loss, lossWeight) as tf.Scalar;
  });
}
