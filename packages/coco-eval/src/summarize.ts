import { CocoInputError } from './errors';
import type { CocoAccumulation } from './evaluator';
import { formatFixed } from './format-fixed';
import { pairwiseMean } from './pairwise-sum';
import type { CocoEvalParams } from './params';

/** The 12 COCO numbers and pycocotools' printed lines for them. */
export interface CocoSummary {
  stats: number[];
  lines: string[];
}

export interface SummarizeQuery {
  /** true: AP from precision; false: AR from recall. */
  ap: boolean;
  /** One IoU threshold, matched by exact float equality as `np.where(iouThr == p.iouThrs)`. */
  iouThr?: number;
  areaRngLbl?: string;
  maxDets?: number;
}

/** Mean over the entries > -1 with numpy's summation order, or -1 when there are none. */
export function meanOfValid(values: ArrayLike<number>): number {
  const valid: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (value > -1) valid.push(value);
  }
  return valid.length === 0 ? -1 : pairwiseMean(valid);
}

function indicesWhere<T>(values: readonly T[], predicate: (value: T) => boolean): number[] {
  const indices: number[] = [];
  values.forEach((value, index) => {
    if (predicate(value)) indices.push(index);
  });
  return indices;
}

/** numpy pairs two index lists element-wise, broadcasting a list of one. */
function pairIndices(areas: number[], maxDets: number[]): [number, number][] {
  if (areas.length === 0 || maxDets.length === 0) return [];
  const length = Math.max(areas.length, maxDets.length);
  if (
    (areas.length !== 1 && areas.length !== length) ||
    (maxDets.length !== 1 && maxDets.length !== length)
  ) {
    throw new CocoInputError(
      'summarize: areaRngLbl and maxDets matches cannot be broadcast together',
    );
  }
  return Array.from({ length }, (_, i) => [
    areas[areas.length === 1 ? 0 : i] as number,
    maxDets[maxDets.length === 1 ? 0 : i] as number,
  ]);
}

/** pycocotools `_summarize`: one stat from the accumulated arrays. */
export function summarizeStat(
  accumulation: CocoAccumulation,
  params: CocoEvalParams,
  query: SummarizeQuery,
): number {
  const [T, R, K, A, M] = accumulation.counts;
  const areaLabel = query.areaRngLbl ?? 'all';
  const maxDets = query.maxDets ?? 100;
  const pairs = pairIndices(
    indicesWhere(params.areaRngLbl, (label) => label === areaLabel),
    indicesWhere(params.maxDets, (value) => value === maxDets),
  );
  const thresholds =
    query.iouThr === undefined
      ? Array.from({ length: T }, (_, t) => t)
      : indicesWhere(params.iouThrs, (value) => value === query.iouThr);
  const selected: number[] = [];
  // C order of s[t][:, :, aind, mind]: (t, r, k, pair) for AP and (t, k, pair) for AR.
  for (const t of thresholds) {
    if (query.ap) {
      for (let r = 0; r < R; r++) {
        for (let k = 0; k < K; k++) {
          for (const [a, m] of pairs)
            selected.push(
              accumulation.precision[(((t * R + r) * K + k) * A + a) * M + m] as number,
            );
        }
      }
    } else {
      for (let k = 0; k < K; k++) {
        for (const [a, m] of pairs)
          selected.push(accumulation.recall[((t * K + k) * A + a) * M + m] as number);
      }
    }
  }
  return meanOfValid(selected);
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  return align === 'left' ? text.padEnd(width) : text.padStart(width);
}

/** One printed line, `' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'`. */
export function summaryLine(params: CocoEvalParams, query: SummarizeQuery, value: number): string {
  const title = query.ap ? 'Average Precision' : 'Average Recall';
  const type = query.ap ? '(AP)' : '(AR)';
  const first = params.iouThrs[0] as number;
  const last = params.iouThrs[params.iouThrs.length - 1] as number;
  const iou =
    query.iouThr === undefined
      ? `${formatFixed(first, 2)}:${formatFixed(last, 2)}`
      : formatFixed(query.iouThr, 2);
  const area = query.areaRngLbl ?? 'all';
  const maxDets = query.maxDets ?? 100;
  return ` ${pad(title, 18, 'left')} ${type} @[ IoU=${pad(iou, 9, 'left')} | area=${pad(area, 6, 'right')} | maxDets=${pad(String(maxDets), 3, 'right')} ] = ${formatFixed(value, 3)}`;
}

/** The 12 queries of pycocotools `summarizeDets`; stats[0] asks for maxDets=100 literally. */
export function summaryQueries(params: CocoEvalParams): SummarizeQuery[] {
  if (params.maxDets.length < 3) {
    throw new CocoInputError(
      `summarize needs at least 3 maxDets (pycocotools reads maxDets[2]); got [${params.maxDets.join(', ')}]`,
    );
  }
  const [m0, m1, m2] = params.maxDets as [number, number, number];
  return [
    { ap: true },
    { ap: true, iouThr: 0.5, maxDets: m2 },
    { ap: true, iouThr: 0.75, maxDets: m2 },
    { ap: true, areaRngLbl: 'small', maxDets: m2 },
    { ap: true, areaRngLbl: 'medium', maxDets: m2 },
    { ap: true, areaRngLbl: 'large', maxDets: m2 },
    { ap: false, maxDets: m0 },
    { ap: false, maxDets: m1 },
    { ap: false, maxDets: m2 },
    { ap: false, areaRngLbl: 'small', maxDets: m2 },
    { ap: false, areaRngLbl: 'medium', maxDets: m2 },
    { ap: false, areaRngLbl: 'large', maxDets: m2 },
  ];
}

/** pycocotools `summarize()` for bbox: the 12 stats and the printed table. */
export function summarize(accumulation: CocoAccumulation, params: CocoEvalParams): CocoSummary {
  const queries = summaryQueries(params);
  const stats = queries.map((query) => summarizeStat(accumulation, params, query));
  const lines = queries.map((query, i) => summaryLine(params, query, stats[i] as number));
  return { stats, lines };
}

/** AP and AR of one category at area 'all' and the last maxDets, plus [area][maxDet] grids. */
export interface CategoryMetrics {
  categoryId: number;
  ap: number;
  ap50: number;
  ap75: number;
  ar: number;
  apGrid: number[][];
  arGrid: number[][];
}

/**
 * Per-category AP/AR: means over entries > -1 of precision[:, :, k, a, m] (or of the IoU
 * 0.5 / 0.75 row) and of recall[:, k, a, m]; -1 when a category has no valid entry.
 * With useCats=false there is one entry, category id -1.
 */
export function perCategoryMetrics(
  accumulation: CocoAccumulation,
  params: CocoEvalParams,
): CategoryMetrics[] {
  const [T, R, K, A, M] = accumulation.counts;
  const categoryIds = params.useCats ? params.catIds : [-1];
  const allIndex = Math.max(0, params.areaRngLbl.indexOf('all'));
  const at = (a: number, m: number, k: number, tList: number[], ap: boolean) => {
    const values: number[] = [];
    for (const t of tList) {
      if (ap)
        for (let r = 0; r < R; r++)
          values.push(accumulation.precision[(((t * R + r) * K + k) * A + a) * M + m] as number);
      else values.push(accumulation.recall[((t * K + k) * A + a) * M + m] as number);
    }
    return meanOfValid(values);
  };
  const allT = Array.from({ length: T }, (_, t) => t);
  const t50 = indicesWhere(params.iouThrs, (value) => value === 0.5);
  const t75 = indicesWhere(params.iouThrs, (value) => value === 0.75);
  const lastM = M - 1;
  return categoryIds.slice(0, K).map((categoryId, k) => ({
    categoryId,
    ap: at(allIndex, lastM, k, allT, true),
    ap50: at(allIndex, lastM, k, t50, true),
    ap75: at(allIndex, lastM, k, t75, true),
    ar: at(allIndex, lastM, k, allT, false),
    apGrid: Array.from({ length: A }, (_, a) =>
      Array.from({ length: M }, (_, m) => at(a, m, k, allT, true)),
    ),
    arGrid: Array.from({ length: A }, (_, a) =>
      Array.from({ length: M }, (_, m) => at(a, m, k, allT, false)),
    ),
  }));
}
