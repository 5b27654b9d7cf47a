/**
 * numpy's float64 `add.reduce`, reproduced bit for bit so that our means equal
 * `np.mean` exactly (numpy/core/src/umath/loops_utils.h.src `pairwise_sum`).
 * The reduction runs over buffers of 8192 elements whose sums are added left to right;
 * each buffer is summed pairwise with an 8-way unrolled base case of 128 elements.
 */
const REDUCE_BUFFER = 8192;
const PAIRWISE_BLOCK = 128;

function pairwiseBlockSum(values: ArrayLike<number>, start: number, count: number): number {
  if (count < 8) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += values[start + i] as number;
    return sum;
  }
  if (count <= PAIRWISE_BLOCK) {
    let r0 = values[start] as number;
    let r1 = values[start + 1] as number;
    let r2 = values[start + 2] as number;
    let r3 = values[start + 3] as number;
    let r4 = values[start + 4] as number;
    let r5 = values[start + 5] as number;
    let r6 = values[start + 6] as number;
    let r7 = values[start + 7] as number;
    const unrolledEnd = count - (count % 8);
    let i = 8;
    for (; i < unrolledEnd; i += 8) {
      const at = start + i;
      r0 += values[at] as number;
      r1 += values[at + 1] as number;
      r2 += values[at + 2] as number;
      r3 += values[at + 3] as number;
      r4 += values[at + 4] as number;
      r5 += values[at + 5] as number;
      r6 += values[at + 6] as number;
      r7 += values[at + 7] as number;
    }
    let sum = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < count; i++) sum += values[start + i] as number;
    return sum;
  }
  let half = Math.floor(count / 2);
  half -= half % 8;
  return (
    pairwiseBlockSum(values, start, half) + pairwiseBlockSum(values, start + half, count - half)
  );
}

/** `np.add.reduce(values)` for a 1-D float64 array. */
export function pairwiseSum(values: ArrayLike<number>): number {
  let total = 0;
  for (let start = 0; start < values.length; start += REDUCE_BUFFER) {
    total += pairwiseBlockSum(values, start, Math.min(REDUCE_BUFFER, values.length - start));
  }
  return total;
}

/** `np.mean(values)` for a 1-D float64 array (NaN when empty, as numpy). */
export function pairwiseMean(values: ArrayLike<number>): number {
  return pairwiseSum(values) / values.length;
}
