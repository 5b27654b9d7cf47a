import {
  type AssignOptions,
  type AssignResult,
  boxOverlaps,
  MaxIoUAssigner,
  type MaxIoUAssignerOptions,
} from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

export interface ApproxMaxIoUAssignerOptions extends Omit<MaxIoUAssignerOptions, 'iouCalculator'> {
  /**
   * Approximating anchors per location (GA §3.2: 3 scales × 3 ratios = 9; the §4.3 ablation
   * samples 3, 9 or 15). Default 9. `ShapeTargetBuilder` rebinds it to its own generator's
   * count (`withApproxesPerLocation`), so there it follows `scalesPerOctave × ratios`.
   */
  approxesPerLocation?: number;
}

/**
 * `[G, N]` overlap of each gt with each location: the best IoU over the location's A
 * approximating anchors, GA §3.2's sampled estimate of vIoU(a_wh, gt) = max over w, h.
 * `approxes` `[N·A, 4]` in (N, A) row order, as `AnchorGenerator.gridPriors`.
 */
export function approxMaxOverlaps(
  gtBoxes: tf.Tensor2D,
  approxes: tf.Tensor2D,
  approxesPerLocation: number,
): tf.Tensor2D {
  const numGts = gtBoxes.shape[0];
  const numLocations = approxes.shape[0] / approxesPerLocation;
  // G·N·A IoUs of a few boxes: one pass on the host instead of ~40 broadcast kernels over
  // [G, N·A] (the wasm backend's tensors live in host memory; a GPU pays one small readback).
  const gts = gtBoxes.dataSync();
  const priors = approxes.dataSync();
  const out = new Float32Array(numGts * numLocations);
  const f32 = Math.fround;
  const eps = f32(1e-6);
  for (let g = 0; g < numGts; g++) {
    const gx1 = gts[4 * g] as number;
    const gy1 = gts[4 * g + 1] as number;
    const gx2 = gts[4 * g + 2] as number;
    const gy2 = gts[4 * g + 3] as number;
    const gtArea = f32(f32(gx2 - gx1) * f32(gy2 - gy1));
    for (let location = 0; location < numLocations; location++) {
      let best = Number.NEGATIVE_INFINITY;
      for (let a = 0; a < approxesPerLocation; a++) {
        const k = 4 * (location * approxesPerLocation + a);
        const px1 = priors[k] as number;
        const py1 = priors[k + 1] as number;
        const px2 = priors[k + 2] as number;
        const py2 = priors[k + 3] as number;
        // Disjoint boxes: boxOverlaps' steps give intersection 0, hence IoU exactly 0.
        if (px1 >= gx2 || px2 <= gx1 || py1 >= gy2 || py2 <= gy1) {
          if (0 > best) best = 0;
          continue;
        }
        // boxOverlaps' float32 steps, in its order: the same IoU bit for bit.
        const priorArea = f32(f32(px2 - px1) * f32(py2 - py1));
        const width = Math.max(f32(Math.min(gx2, px2) - Math.max(gx1, px1)), 0);
        const height = Math.max(f32(Math.min(gy2, py2) - Math.max(gy1, py1)), 0);
        const intersection = f32(width * height);
        const union = f32(f32(gtArea + priorArea) - intersection);
        const iou = f32(intersection / Math.max(union, eps));
        if (iou > best) best = iou;
      }
      out[g * numLocations + location] = best;
    }
  }
  return tf.tensor2d(out, [numGts, numLocations]);
}

/**
 * mmdetection's `ApproxMaxIoUAssigner`: `MaxIoUAssigner`'s rules applied to one prior per
 * location (the `squares`, whose centres the guided anchors keep), with a location's IoU with
 * a gt taken as the max over its approximating anchors (`approxMaxOverlaps`). Ignore regions
 * (IoF) are measured on the squares, as mmdetection does.
 */
export class ApproxMaxIoUAssigner {
  readonly approxesPerLocation: number;
  readonly options: Omit<MaxIoUAssignerOptions, 'iouCalculator'>;

  constructor(options: ApproxMaxIoUAssignerOptions) {
    const { approxesPerLocation = 9, ...rest } = options ?? ({} as ApproxMaxIoUAssignerOptions);
    if (!(Number.isInteger(approxesPerLocation) && approxesPerLocation > 0)) {
      throw new Error(
        `ApproxMaxIoUAssigner: approxesPerLocation must be a positive integer, got ${approxesPerLocation}`,
      );
    }
    // Validates the thresholds once, with MaxIoUAssigner's messages.
    new MaxIoUAssigner(rest);
    this.approxesPerLocation = approxesPerLocation;
    this.options = rest;
  }

  /** The same rules for `count` approximating anchors per location. */
  withApproxesPerLocation(count: number): ApproxMaxIoUAssigner {
    if (count === this.approxesPerLocation) return this;
    return new ApproxMaxIoUAssigner({ ...this.options, approxesPerLocation: count });
  }

  /**
   * `approxes` `[N·A, 4]`, `squares` `[N, 4]`, `gtBoxes` `[G, 4]`, all xyxy; any may be empty.
   * Returns the assignment of the N locations.
   */
  assign(
    approxes: tf.Tensor2D,
    squares: tf.Tensor2D,
    gtBoxes: tf.Tensor2D,
    options: AssignOptions = {},
  ): AssignResult {
    const perLocation = this.approxesPerLocation;
    if (approxes.rank !== 2 || approxes.shape[0] !== squares.shape[0] * perLocation) {
      throw new Error(
        `ApproxMaxIoUAssigner.assign: approxes must be [${squares.shape[0]}·${perLocation}, 4] for ${squares.shape[0]} squares, got [${approxes.shape.join(', ')}]`,
      );
    }
    const assigner = new MaxIoUAssigner({
      ...this.options,
      iouCalculator: (a, b, mode) =>
        mode === 'iou' && b === squares
          ? approxMaxOverlaps(a, approxes, perLocation)
          : boxOverlaps(a, b, { mode }),
    });
    return assigner.assign(squares, gtBoxes, options);
  }
}
