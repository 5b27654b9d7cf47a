import {
  type AssignOptions,
  type AssignResult,
  boxOverlaps,
  MaxIoUAssigner,
  type MaxIoUAssignerOptions,
} from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

export interface ApproxMaxIoUAssignerOptions extends Omit<MaxIoUAssignerOptions, 'iouCalculator'> {
  /** Approximating anchors per location (GA §3.2: 3 scales × 3 ratios = 9). Default 9. */
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
  return tf.tidy(() =>
    tf.max(
      tf.reshape(boxOverlaps(gtBoxes, approxes), [numGts, numLocations, approxesPerLocation]),
      2,
    ),
  ) as tf.Tensor2D;
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
