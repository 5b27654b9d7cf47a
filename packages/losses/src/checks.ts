import type * as tf from '@tensorflow/tfjs-core';

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, axis) => size === b[axis]);
}

export function checkFloat(lossName: string, field: string, x: tf.Tensor): void {
  if (x.dtype !== 'float32') {
    throw new Error(`${lossName}: ${field} must be float32, got ${x.dtype}`);
  }
}

export function checkSameShape(lossName: string, pred: tf.Tensor, target: tf.Tensor): void {
  if (!sameShape(pred.shape, target.shape)) {
    throw new Error(
      `${lossName}: target shape ${formatShape(target.shape)} does not match pred shape ${formatShape(pred.shape)}`,
    );
  }
}

/** Boxes are [N, 4] (x1, y1, x2, y2). */
export function checkBoxes(
  lossName: string,
  field: string,
  boxes: tf.Tensor,
  coordinates = 4,
): void {
  checkFloat(lossName, field, boxes);
  if (boxes.rank !== 2 || boxes.shape[1] !== coordinates) {
    throw new Error(
      `${lossName}: ${field} must have shape [N,${coordinates}], got ${formatShape(boxes.shape)}`,
    );
  }
}

export function checkNumber(
  lossName: string,
  field: string,
  value: number,
  { min, max, minExclusive = false }: { min?: number; max?: number; minExclusive?: boolean },
): void {
  const belowMin = min !== undefined && (minExclusive ? value <= min : value < min);
  const aboveMax = max !== undefined && value > max;
  if (!Number.isFinite(value) || belowMin || aboveMax) {
    const range = [
      min === undefined ? undefined : `${minExclusive ? '>' : '>='} ${min}`,
      max === undefined ? undefined : `<= ${max}`,
    ]
      .filter((part) => part !== undefined)
      .join(' and ');
    throw new Error(
      `${lossName}: options.${field}=${value} must be a finite number ${range}`.trim(),
    );
  }
}
