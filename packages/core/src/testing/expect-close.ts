import type * as tf from '@tensorflow/tfjs-core';

/**
 * How close a quantity must be to its golden: |actual − expected| ≤ atol + rtol·|expected|
 * for every element. Both bounds are stated per quantity (no defaults), so a loosened one
 * shows in the test next to the comment that says why.
 */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** A tensor as the fixture generators write it: flat values and their shape. */
export interface GoldenTensor {
  shape: number[];
  data: ArrayLike<number>;
}

type Values = tf.Tensor | GoldenTensor | ArrayLike<number>;

function isTensorLike(value: Values): value is tf.Tensor {
  return typeof (value as tf.Tensor).dataSync === 'function';
}

function isGolden(value: Values): value is GoldenTensor {
  return !isTensorLike(value) && Array.isArray((value as GoldenTensor).shape);
}

function shapeOf(value: Values): number[] | undefined {
  if (isTensorLike(value)) return value.shape;
  if (isGolden(value)) return value.shape;
  return undefined;
}

function dataOf(value: Values): ArrayLike<number> {
  if (isTensorLike(value)) return value.dataSync() as ArrayLike<number>;
  if (isGolden(value)) return value.data;
  return value;
}

/**
 * The first failing element of `actual` against `expected`, or undefined when every element
 * is within tolerance. The test is written `!(error <= bound)`, so a NaN on either side, an
 * infinity where a finite value is expected, or a non-number fails.
 */
export function closeMismatch(
  actual: Values,
  expected: Values,
  tolerance: Tolerance,
): string | undefined {
  const { atol, rtol } = tolerance;
  if (!(atol >= 0 && rtol >= 0)) {
    return `tolerance must be non-negative, got atol ${atol}, rtol ${rtol}`;
  }
  const actualShape = shapeOf(actual);
  const expectedShape = shapeOf(expected);
  if (
    actualShape !== undefined &&
    expectedShape !== undefined &&
    actualShape.join() !== expectedShape.join()
  ) {
    return `shape [${actualShape.join(', ')}], expected [${expectedShape.join(', ')}]`;
  }
  const got = dataOf(actual);
  const want = dataOf(expected);
  if (got.length !== want.length) return `${got.length} values, expected ${want.length}`;
  let failures = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i += 1) {
    const a = got[i] as number;
    const e = want[i] as number;
    const error = Math.abs(a - e);
    const bound = atol + rtol * Math.abs(e);
    // Exact equality first: ±Infinity golden values match themselves.
    if (a === e || error <= bound) continue;
    failures += 1;
    const excess = Number.isNaN(error) ? Number.POSITIVE_INFINITY : error - bound;
    if (worst < 0 || excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst < 0) return undefined;
  return `${failures} of ${want.length} values outside atol ${atol} + rtol ${rtol}·|expected|; worst [${worst}]: got ${got[worst]}, expected ${want[worst]}`;
}

/**
 * Throws (failing the test) unless `actual` matches `expected` within `tolerance`; shapes
 * are compared when both sides have one. NaN never passes. Works in any test runner: it
 * throws a plain Error naming the quantity, the worst element and the number of failures.
 */
export function expectClose(
  actual: Values,
  expected: Values,
  tolerance: Tolerance & { label?: string },
): void {
  const mismatch = closeMismatch(actual, expected, tolerance);
  if (mismatch !== undefined) {
    throw new Error(`${tolerance.label ?? 'value'}: ${mismatch}`);
  }
}
