import * as tf from '@tensorflow/tfjs-core';
import { untaped } from '../backend/untaped';
import { type BoxOverlapsFn, defaultBoxOverlaps } from '../boxes/box-overlaps';
import { assertBoxes2D } from '../boxes/validate-boxes';
import type { Assigner, AssignOptions, AssignResult } from '../types/assigner';

export interface MaxIoUAssignerOptions {
  /** Priors whose best IoU is ≥ this are positive (mmdetection `pos_iou_thr`). */
  posIouThreshold: number;
  /**
   * Priors whose best IoU is in `[0, t)` (or in `[lo, hi)` for a pair) are negative;
   * the rest that are not positive are ignored (`neg_iou_thr`).
   */
  negIouThreshold: number | readonly [number, number];
  /** Least IoU for a gt's best prior to become positive through `matchLowQuality`. Default 0. */
  minPosIou?: number;
  /**
   * Give every gt its best prior(s) even below `posIouThreshold` (Faster R-CNN's second
   * RPN rule). Default true. As in mmdetection, with `minPosIou = 0` a gt that overlaps no
   * prior (best IoU 0) claims every prior it has IoU 0 with when `gtMaxAssignAll`.
   */
  matchLowQuality?: boolean;
  /** Give a gt all priors tied for its best IoU, not only the first. Default true. */
  gtMaxAssignAll?: boolean;
  /**
   * Priors whose intersection-over-own-area with an ignore box exceeds this are ignored;
   * ≤ 0 turns it off. Default −1 (off).
   */
  ignoreIofThreshold?: number;
  /** Overlap function; default `boxOverlaps` (torchvision's arithmetic, eps 1e-6). */
  iouCalculator?: BoxOverlapsFn;
}

function checkThreshold(value: unknown, field: string): void {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new Error(`MaxIoUAssigner: ${field} must be a number, got ${String(value)}`);
  }
}

/**
 * mmdetection's `MaxIoUAssigner` (v2, `assign` + `assign_wrt_overlaps`), vectorised:
 * 1. every prior starts ignored (−1);
 * 2. priors whose best IoU is in the negative range become negative (0);
 * 3. priors whose best IoU is ≥ `posIouThreshold` take their best gt (k + 1);
 * 4. with `matchLowQuality`, each gt (in index order, later gts winning) takes the
 *    prior(s) it overlaps best if that IoU ≥ `minPosIou`.
 * Priors covered by an ignore box (IoF > `ignoreIofThreshold`) get overlap −1 with every gt
 * before these steps. Zero gts: all negative; zero priors: empty results.
 */
export class MaxIoUAssigner implements Assigner {
  readonly posIouThreshold: number;
  readonly negIouThreshold: number | readonly [number, number];
  readonly minPosIou: number;
  readonly matchLowQuality: boolean;
  readonly gtMaxAssignAll: boolean;
  readonly ignoreIofThreshold: number;
  readonly iouCalculator: BoxOverlapsFn;

  constructor(options: MaxIoUAssignerOptions) {
    checkThreshold(options?.posIouThreshold, 'posIouThreshold');
    const neg = options.negIouThreshold;
    if (Array.isArray(neg)) {
      if (neg.length !== 2) {
        throw new Error(
          `MaxIoUAssigner: negIouThreshold as a range must be [lo, hi], got ${JSON.stringify(neg)}`,
        );
      }
      checkThreshold(neg[0], 'negIouThreshold[0]');
      checkThreshold(neg[1], 'negIouThreshold[1]');
    } else {
      checkThreshold(neg, 'negIouThreshold');
    }
    this.posIouThreshold = options.posIouThreshold;
    this.negIouThreshold = Array.isArray(neg) ? ([neg[0], neg[1]] as const) : (neg as number);
    this.minPosIou = options.minPosIou ?? 0;
    checkThreshold(this.minPosIou, 'minPosIou');
    this.matchLowQuality = options.matchLowQuality ?? true;
    this.gtMaxAssignAll = options.gtMaxAssignAll ?? true;
    this.ignoreIofThreshold = options.ignoreIofThreshold ?? -1;
    checkThreshold(this.ignoreIofThreshold, 'ignoreIofThreshold');
    this.iouCalculator = options.iouCalculator ?? defaultBoxOverlaps;
  }

  /** Targets, so nothing here is recorded on a gradient tape (`untaped`). */
  assign(priors: tf.Tensor2D, gtBoxes: tf.Tensor2D, options: AssignOptions = {}): AssignResult {
    return untaped(() => this.assignUntaped(priors, gtBoxes, options));
  }

  private assignUntaped(
    priors: tf.Tensor2D,
    gtBoxes: tf.Tensor2D,
    options: AssignOptions,
  ): AssignResult {
    assertBoxes2D(priors, 'MaxIoUAssigner.assign', 'priors');
    assertBoxes2D(gtBoxes, 'MaxIoUAssigner.assign', 'gtBoxes');
    const { gtLabels, gtIgnoreBoxes } = options;
    const numPriors = priors.shape[0];
    const numGts = gtBoxes.shape[0];
    if (gtLabels && (gtLabels.rank !== 1 || gtLabels.shape[0] !== numGts)) {
      throw new Error(
        `MaxIoUAssigner.assign: gtLabels must have shape [${numGts}], got [${gtLabels.shape.join(', ')}]`,
      );
    }
    if (gtIgnoreBoxes) assertBoxes2D(gtIgnoreBoxes, 'MaxIoUAssigner.assign', 'gtIgnoreBoxes');

    if (numGts === 0 || numPriors === 0) {
      return {
        numGts,
        gtIndices: tf.fill([numPriors], numGts === 0 ? 0 : -1, 'int32') as tf.Tensor1D,
        maxOverlaps: tf.zeros([numPriors], 'float32') as tf.Tensor1D,
        labels: gtLabels ? (tf.fill([numPriors], -1, 'int32') as tf.Tensor1D) : null,
      };
    }

    const { gtIndices, maxOverlaps, labels } = tf.tidy(() => {
      // [G, N], mmdetection's layout: gts along rows.
      let overlaps: tf.Tensor = this.iouCalculator(gtBoxes, priors, 'iou');
      if (this.ignoreIofThreshold > 0 && gtIgnoreBoxes && gtIgnoreBoxes.shape[0] > 0) {
        // ignore_wrt_candidates: intersection over the prior's own area.
        const ignoreOverlaps = this.iouCalculator(priors, gtIgnoreBoxes, 'iof');
        const ignored = tf.greater(tf.max(ignoreOverlaps, 1), this.ignoreIofThreshold);
        // Ignored columns become −1: overlaps·keep − ignored, exact for 0/1 masks (and a
        // broadcast Mul/Sub, which the wasm backend does fast, unlike a broadcast Select).
        const ignoredRow = tf.reshape(tf.cast(ignored, 'float32'), [1, numPriors]);
        overlaps = tf.sub(tf.mul(overlaps, tf.sub(1, ignoredRow)), ignoredRow);
      }
      const maxOverlaps = tf.max(overlaps, 0) as tf.Tensor1D;
      const argmaxOverlaps = tf.argMax(overlaps, 0) as tf.Tensor1D;

      let assigned: tf.Tensor = tf.fill([numPriors], -1, 'int32');
      const neg = this.negIouThreshold;
      const [negLo, negHi] = typeof neg === 'number' ? [0, neg] : neg;
      const negative = tf.logicalAnd(
        tf.greaterEqual(maxOverlaps, negLo),
        tf.less(maxOverlaps, negHi),
      );
      assigned = tf.where(negative, tf.zerosLike(assigned), assigned);
      const positive = tf.greaterEqual(maxOverlaps, this.posIouThreshold);
      assigned = tf.where(positive, tf.add(argmaxOverlaps, tf.scalar(1, 'int32')), assigned);

      if (this.matchLowQuality) {
        const gtMax = tf.max(overlaps, 1, true); // [G, 1]
        const eligible = tf.greaterEqual(gtMax, this.minPosIou);
        const zeros = tf.zerosLike(overlaps);
        const claims = this.gtMaxAssignAll
          ? tf.equal(overlaps, tf.add(gtMax, zeros))
          : tf.cast(tf.oneHot(tf.argMax(overlaps, 1), numPriors), 'bool');
        // mmdetection loops over gts in order, so the last claiming gt wins: take the
        // largest (k + 1) over claiming gts, 0 where none claims. Masks enter as 0/1 factors
        // (broadcast Mul is fast on wasm; broadcast Select/LogicalAnd are not).
        const gtNumbers = tf.reshape(tf.range(1, numGts + 1, 1, 'float32'), [numGts, 1]);
        const eligibleNumbers = tf.mul(gtNumbers, tf.cast(eligible, 'float32'));
        const claimant = tf.cast(
          tf.max(tf.mul(tf.cast(claims, 'float32'), eligibleNumbers), 0),
          'int32',
        ) as tf.Tensor1D;
        assigned = tf.where(tf.greater(claimant, 0), claimant, assigned);
      }

      const gtIndices = assigned as tf.Tensor1D;
      if (!gtLabels) return { gtIndices, maxOverlaps, labels: undefined };
      const gathered = tf.gather(
        tf.cast(gtLabels, 'int32'),
        tf.maximum(tf.sub(assigned, tf.scalar(1, 'int32')), tf.scalar(0, 'int32')),
      );
      const labels = tf.where(tf.greater(assigned, 0), gathered, tf.fill([numPriors], -1, 'int32'));
      return { gtIndices, maxOverlaps, labels: labels as tf.Tensor1D };
    });
    return { numGts, gtIndices, maxOverlaps, labels: labels ?? null };
  }
}
