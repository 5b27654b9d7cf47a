/**
 * maskApi.c `bbIou`, in the same float operations: `w = min(x+w) - max(x)`, zero when
 * `w <= 0` or `h <= 0`, `i = w*h`, `u = crowd ? detArea : (detArea + gtArea) - i`, areas
 * from the boxes (not the `area` field), no +1 pixel term. Boxes are flat `[x, y, w, h]`.
 *
 * @param out receives `out[d * gtCount + g]` (row per detection).
 */
export function boxIou(
  detBoxes: ArrayLike<number>,
  detOffsets: ArrayLike<number>,
  gtBoxes: ArrayLike<number>,
  gtCrowd: ArrayLike<number>,
  out: Float64Array,
): void {
  const detCount = detOffsets.length;
  const gtCount = gtCrowd.length;
  for (let g = 0; g < gtCount; g++) {
    const gx = gtBoxes[4 * g] as number;
    const gy = gtBoxes[4 * g + 1] as number;
    const gw = gtBoxes[4 * g + 2] as number;
    const gh = gtBoxes[4 * g + 3] as number;
    const gtArea = gw * gh;
    const crowd = gtCrowd[g] !== 0;
    for (let d = 0; d < detCount; d++) {
      const at = 4 * (detOffsets[d] as number);
      const dx = detBoxes[at] as number;
      const dy = detBoxes[at + 1] as number;
      const dw = detBoxes[at + 2] as number;
      const dh = detBoxes[at + 3] as number;
      const detArea = dw * dh;
      out[d * gtCount + g] = 0;
      // fmin/fmax; the C code adds D[2]+D[0], which equals x+w bit for bit.
      const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
      if (w <= 0) continue;
      const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
      if (h <= 0) continue;
      const intersection = w * h;
      const union = crowd ? detArea : detArea + gtArea - intersection;
      out[d * gtCount + g] = intersection / union;
    }
  }
}
