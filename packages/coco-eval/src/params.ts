/** A closed area range `[lo, hi]` in pixels² (pycocotools `areaRng`). */
export type AreaRange = readonly [number, number];

/** Evaluation parameters, named as in pycocotools' `Params` (bbox). */
export interface CocoEvalParams {
  /** Image ids to evaluate; default every id in the GT `images`. Sorted and deduplicated by evaluate. */
  imgIds: number[];
  /** Category ids to evaluate; default every GT category. Sorted and deduplicated when `useCats`. */
  catIds: number[];
  /** IoU thresholds, default `np.linspace(.5, .95, 10)`. */
  iouThrs: number[];
  /** Recall thresholds, default `np.linspace(0, 1, 101)`. */
  recThrs: number[];
  /** Detections kept per image (per image and category when `useCats`); sorted by evaluate. */
  maxDets: number[];
  /** Closed area ranges; default all / small / medium / large. */
  areaRng: AreaRange[];
  /** Labels of `areaRng`; summarize looks up 'all', 'small', 'medium', 'large'. */
  areaRngLbl: string[];
  /** false pools all categories per image, as region-proposal evaluation does. */
  useCats: boolean;
}

/**
 * `np.linspace(start, stop, num)` as numpy 1.24 computes it: `i * step + start`, with the
 * last value set to `stop`. This is why the 9th IoU threshold is 0.8999999999999999.
 */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num <= 0) return [];
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const values: number[] = [];
  for (let i = 0; i < num; i++) values.push(i * step + start);
  values[num - 1] = stop;
  return values;
}

/** pycocotools' defaults for iouType 'bbox' (`Params.setDetParams`). */
export function defaultParams(): Omit<CocoEvalParams, 'imgIds' | 'catIds'> {
  return {
    // int(np.round((0.95 - .5) / .05)) + 1 = 10 and int(np.round((1.00 - .0) / .01)) + 1 = 101
    iouThrs: linspace(0.5, 0.95, 10),
    recThrs: linspace(0, 1, 101),
    maxDets: [1, 10, 100],
    areaRng: [
      [0, 1e10],
      [0, 32 ** 2],
      [32 ** 2, 96 ** 2],
      [96 ** 2, 1e10],
    ],
    areaRngLbl: ['all', 'small', 'medium', 'large'],
    useCats: true,
  };
}

/** `np.unique`: sorted ascending, duplicates removed. */
export function uniqueSorted(values: readonly number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.filter((value, index) => index === 0 || value !== sorted[index - 1]);
}
