import { boxIou } from './box-iou';
import { CocoDetections, type CocoResult, type DetectionArrays } from './detections';
import { CocoInputError } from './errors';
import type { CocoGroundTruth } from './ground-truth';
import { type CocoEvalParams, defaultParams, uniqueSorted } from './params';
import { type CategoryMetrics, type CocoSummary, perCategoryMetrics, summarize } from './summarize';

/** Per detection, per (area, IoU threshold): how accumulate counts it. */
const FALSE_POSITIVE = 0;
const TRUE_POSITIVE = 1;
const IGNORED = 2;
/** `np.spacing(1)`, the eps pycocotools adds to tp + fp. */
const EPSILON = 2 ** -52;
/** `min(t, 1 - 1e-10)`: pycocotools' starting IoU bar for a match. */
const MAX_IOU_BAR = 1 - 1e-10;

/** `np.argsort(-scores, kind='mergesort')` order: descending, NaN last, ties stable. */
function compareScoresDescending(a: number, b: number): number {
  if (a > b) return -1;
  if (a < b) return 1;
  if (a === b) return 0;
  return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1;
}

class GrowableUint8 {
  data = new Uint8Array(1024);
  length = 0;
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    let capacity = this.data.length;
    while (capacity < this.length + extra) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
}

/** Per-(image, category) work buffers, reused so that evaluate allocates almost nothing. */
class Scratch {
  detIndices = new Int32Array(16);
  detOutside = new Uint8Array(16);
  localBoxes = new Float64Array(64);
  crowd = new Uint8Array(16);
  gtArea = new Float64Array(16);
  gtId = new Float64Array(16);
  ignore = new Uint8Array(16);
  order = new Int32Array(16);
  /** `matched[position] === stamp` marks a GT matched at the current threshold. */
  matched = new Int32Array(16);
  stamp = 0;
  ious = new Float64Array(256);

  reserve(detCount: number, gtCount: number): this {
    if (detCount > this.detIndices.length) {
      this.detIndices = new Int32Array(2 * detCount);
      this.detOutside = new Uint8Array(2 * detCount);
    }
    if (gtCount > this.crowd.length) {
      const size = 2 * gtCount;
      this.localBoxes = new Float64Array(4 * size);
      this.crowd = new Uint8Array(size);
      this.gtArea = new Float64Array(size);
      this.gtId = new Float64Array(size);
      this.ignore = new Uint8Array(size);
      this.order = new Int32Array(size);
      this.matched = new Int32Array(size);
      this.stamp = 0;
    }
    if (detCount * gtCount > this.ious.length) this.ious = new Float64Array(2 * detCount * gtCount);
    return this;
  }
}

/**
 * The items of `list` ordered as `np.argsort(-score[list], kind='mergesort')` orders
 * them: by descending score, NaN last, ties in list order.
 */
function sortByScoreDescending(list: readonly number[], score: Float64Array): number[] {
  const n = list.length;
  if (n <= 16) {
    // Insertion sort is stable and cheap for the few detections of one image and category.
    const out = list.slice();
    for (let i = 1; i < n; i++) {
      const item = out[i] as number;
      const key = score[item] as number;
      let j = i - 1;
      while (j >= 0 && compareScoresDescending(score[out[j] as number] as number, key) > 0) {
        out[j + 1] = out[j] as number;
        j--;
      }
      out[j + 1] = item;
    }
    return out;
  }
  const positions = list.map((_, position) => position);
  positions.sort(
    (a, b) =>
      compareScoresDescending(
        score[list[a] as number] as number,
        score[list[b] as number] as number,
      ) || a - b,
  );
  return positions.map((position) => list[position] as number);
}

/**
 * evaluate()'s output for one category (or the pooled one with useCats=false): the kept
 * detections of every image, concatenated in ascending image id and, within an image,
 * in score order (pycocotools' `evalImgs`, stored flat).
 */
interface CategoryEvaluation {
  count: number;
  score: number[];
  /** Position of the detection in its image's score-sorted list. */
  rank: number[];
  /** `state[(j * A + a) * T + t]`. */
  state: Uint8Array;
  /** Non-ignored GT per area range. */
  nonIgnoredGt: Float64Array;
}

/** accumulate()'s arrays, in C order as pycocotools' `eval`. */
export interface CocoAccumulation {
  /** [T, R, K, A, M]. */
  counts: [number, number, number, number, number];
  /** precision[t][r][k][a][m] at `(((t*R + r)*K + k)*A + a)*M + m`; -1 where there is no GT. */
  precision: Float64Array;
  /** recall[t][k][a][m] at `((t*K + k)*A + a)*M + m`. */
  recall: Float64Array;
  /** Score at each precision entry, same layout as precision. */
  scores: Float64Array;
}

export interface CocoEvaluatorOptions {
  groundTruth: CocoGroundTruth;
  /** Detections from `loadResults`; leave out to feed them with `process()`. */
  detections?: CocoDetections;
  /** Any pycocotools parameter; the rest take its bbox defaults. */
  params?: Partial<CocoEvalParams>;
}

/**
 * pycocotools' `COCOeval` for iouType 'bbox': evaluate → accumulate → summarize, with
 * the same matching rules, the same float operations and numpy's summation order.
 */
export class CocoEvaluator {
  readonly groundTruth: CocoGroundTruth;
  readonly detections: CocoDetections;
  /** The parameters; evaluate() normalises them as pycocotools does (sorts, dedups). */
  params: CocoEvalParams;
  private evaluations: CategoryEvaluation[] | undefined;
  private readonly scratch = new Scratch();
  private accumulation: CocoAccumulation | undefined;

  constructor(options: CocoEvaluatorOptions) {
    this.groundTruth = options.groundTruth;
    this.detections = options.detections ?? new CocoDetections();
    this.params = {
      imgIds: [...this.groundTruth.imageIds].sort((a, b) => a - b),
      catIds: [...this.groundTruth.categoryIds].sort((a, b) => a - b),
      ...defaultParams(),
      ...options.params,
    };
  }

  /**
   * Add the detections of one image (call once or many times per image, in any order;
   * ids follow call order, as loadRes follows file order).
   */
  process(imageId: number, detections: DetectionArrays | readonly CocoResult[]): void {
    if (!this.groundTruth.hasImage(imageId)) {
      throw new CocoInputError(`process(): image id ${imageId} is not in the ground truth images`);
    }
    this.detections.append(imageId, detections);
    this.evaluations = undefined;
    this.accumulation = undefined;
  }

  /** pycocotools `evaluate()`: per-image matching for every category and area range. */
  evaluate(): void {
    const p = this.params;
    const params: CocoEvalParams = {
      ...p,
      imgIds: uniqueSorted(p.imgIds),
      catIds: p.useCats ? uniqueSorted(p.catIds) : [...p.catIds],
      maxDets: [...p.maxDets].sort((a, b) => a - b),
    };
    this.params = params;
    this.accumulation = undefined;

    const gt = this.groundTruth;
    const dets = this.detections;
    const imageCount = params.imgIds.length;
    const imageIndex = new Map(params.imgIds.map((id, index) => [id, index]));
    const categorySlots = uniqueSorted(params.catIds);
    const categoryIndex = new Map(categorySlots.map((id, index) => [id, index]));

    // COCOeval._prepare: GT and detections by (category, image); buckets keep file order.
    const gtBuckets: (number[] | undefined)[] = new Array(categorySlots.length * imageCount);
    for (const imageId of params.imgIds) {
      for (const original of gt.annotationIndicesOfImage(imageId)) {
        const annotation = gt.annotations[original];
        if (!annotation || (params.useCats && !categoryIndex.has(annotation.categoryId))) continue;
        // COCO.loadAnns looks annotations up by id, so a repeated id yields the last one.
        const resolved = gt.resolvedIndex[original] as number;
        const target = gt.annotations[resolved] as (typeof gt.annotations)[number];
        const c = categoryIndex.get(target.categoryId);
        const i = imageIndex.get(target.imageId);
        if (c === undefined || i === undefined) continue;
        const key = c * imageCount + i;
        let bucket = gtBuckets[key];
        if (!bucket) gtBuckets[key] = bucket = [];
        bucket.push(resolved);
      }
    }
    const dtBuckets: (number[] | undefined)[] = new Array(categorySlots.length * imageCount);
    for (let j = 0; j < dets.count; j++) {
      const c = categoryIndex.get(dets.categoryId[j] as number);
      const i = imageIndex.get(dets.imageId[j] as number);
      if (c === undefined || i === undefined) continue;
      const key = c * imageCount + i;
      let bucket = dtBuckets[key];
      if (!bucket) dtBuckets[key] = bucket = [];
      bucket.push(j);
    }

    const evaluatedCategories = params.useCats ? categorySlots.length : 1;
    const pooled = (buckets: (number[] | undefined)[], i: number): number[] => {
      const list: number[] = [];
      for (const categoryId of params.catIds) {
        const bucket = buckets[(categoryIndex.get(categoryId) as number) * imageCount + i];
        if (bucket) for (const index of bucket) list.push(index);
      }
      return list;
    };

    const gtBoxes = new Float64Array(gt.annotations.length * 4);
    gt.annotations.forEach((annotation, index) => {
      gtBoxes.set(annotation.bbox, 4 * index);
    });
    const evaluations: CategoryEvaluation[] = [];
    for (let k = 0; k < evaluatedCategories; k++) {
      const evaluation = this.evaluateCategory(
        k,
        imageCount,
        params,
        gtBuckets,
        dtBuckets,
        pooled,
        gtBoxes,
      );
      evaluations.push(evaluation);
    }
    this.evaluations = evaluations;
  }

  private evaluateCategory(
    k: number,
    imageCount: number,
    params: CocoEvalParams,
    gtBuckets: (number[] | undefined)[],
    dtBuckets: (number[] | undefined)[],
    pooled: (buckets: (number[] | undefined)[], i: number) => number[],
    gtBoxes: Float64Array,
  ): CategoryEvaluation {
    const gt = this.groundTruth;
    const dets = this.detections;
    const thresholds = params.iouThrs;
    const T = thresholds.length;
    const A = params.areaRng.length;
    const maxDet = params.maxDets[params.maxDets.length - 1] ?? 0;
    const score: number[] = [];
    const rank: number[] = [];
    const state = new GrowableUint8();
    const nonIgnoredGt = new Float64Array(A);

    for (let i = 0; i < imageCount; i++) {
      const gtList = params.useCats ? (gtBuckets[k * imageCount + i] ?? []) : pooled(gtBuckets, i);
      const dtList = params.useCats ? (dtBuckets[k * imageCount + i] ?? []) : pooled(dtBuckets, i);
      const G = gtList.length;
      if (G === 0 && dtList.length === 0) continue;

      // Detections by score (stable), cut at maxDets[-1] before matching (computeIoU).
      const sorted = sortByScoreDescending(dtList, dets.score);
      const D = Math.min(sorted.length, maxDet);
      const scratch = this.scratch.reserve(D, G);
      const detIndices = scratch.detIndices;
      for (let d = 0; d < D; d++) detIndices[d] = sorted[d] as number;

      const { localBoxes, crowd, gtArea, gtId, ious } = scratch;
      for (let g = 0; g < G; g++) {
        const annotationIndex = gtList[g] as number;
        const annotation = gt.annotations[annotationIndex] as (typeof gt.annotations)[number];
        for (let c = 0; c < 4; c++)
          localBoxes[4 * g + c] = gtBoxes[4 * annotationIndex + c] as number;
        crowd[g] = annotation.iscrowd ? 1 : 0;
        gtArea[g] = annotation.area;
        gtId[g] = annotation.id;
      }
      if (D > 0 && G > 0)
        boxIou(dets.box, detIndices.subarray(0, D), localBoxes, crowd.subarray(0, G), ious);

      const base = score.length;
      for (let d = 0; d < D; d++) {
        score.push(dets.score[detIndices[d] as number] as number);
        rank.push(d);
      }
      state.reserve(D * A * T);
      state.length += D * A * T;

      const { ignore, order, matched } = scratch;
      const detOutside = scratch.detOutside;
      for (let a = 0; a < A; a++) {
        const range = params.areaRng[a] as readonly [number, number];
        const lo = range[0];
        const hi = range[1];
        let nonIgnored = 0;
        for (let g = 0; g < G; g++) {
          const area = gtArea[g] as number;
          ignore[g] = crowd[g] || area < lo || area > hi ? 1 : 0;
          if (ignore[g] === 0) order[nonIgnored++] = g;
        }
        // Stable sort by ignore flag: in-range, non-crowd GT first.
        let next = nonIgnored;
        for (let g = 0; g < G; g++) if (ignore[g] === 1) order[next++] = g;
        nonIgnoredGt[a] = (nonIgnoredGt[a] as number) + nonIgnored;
        for (let d = 0; d < D; d++) {
          const detArea = dets.area[detIndices[d] as number] as number;
          detOutside[d] = detArea < lo || detArea > hi ? 1 : 0;
        }
        if (G === 0) {
          // No GT to match: every detection is a false positive unless its area is out of range.
          for (let d = 0; d < D; d++) {
            const outcome = detOutside[d] === 1 ? IGNORED : FALSE_POSITIVE;
            const at = ((base + d) * A + a) * T;
            for (let t = 0; t < T; t++) state.data[at + t] = outcome;
          }
          continue;
        }

        for (let t = 0; t < T; t++) {
          const stamp = ++scratch.stamp;
          const bar = Math.min(thresholds[t] as number, MAX_IOU_BAR);
          for (let d = 0; d < D; d++) {
            let best = bar;
            let m = -1;
            const row = d * G;
            for (let position = 0; position < G; position++) {
              const g = order[position] as number;
              if (matched[position] === stamp && crowd[g] === 0) continue;
              // Once matched to a regular GT, stop at the first ignored one.
              if (m > -1 && ignore[order[m] as number] === 0 && ignore[g] === 1) break;
              const iou = ious[row + g] as number;
              if (iou < best) continue;
              best = iou;
              m = position;
            }
            const outside = detOutside[d] === 1;
            let outcome: number;
            if (m === -1) {
              outcome = outside ? IGNORED : FALSE_POSITIVE;
            } else {
              matched[m] = stamp;
              const g = order[m] as number;
              const gtIgnored = ignore[g] === 1;
              // dtMatches holds the GT id and is tested for truthiness: id 0 is "unmatched".
              if (gtId[g] !== 0) outcome = gtIgnored ? IGNORED : TRUE_POSITIVE;
              else outcome = gtIgnored || outside ? IGNORED : FALSE_POSITIVE;
            }
            state.data[((base + d) * A + a) * T + t] = outcome;
          }
        }
      }
    }
    return { count: score.length, score, rank, state: state.data, nonIgnoredGt };
  }

  /** pycocotools `accumulate()`: precision [T,R,K,A,M], recall [T,K,A,M] and scores. */
  accumulate(): CocoAccumulation {
    if (!this.evaluations) this.evaluate();
    const evaluations = this.evaluations as CategoryEvaluation[];
    const p = this.params;
    const T = p.iouThrs.length;
    const R = p.recThrs.length;
    const K = evaluations.length;
    const A = p.areaRng.length;
    const M = p.maxDets.length;
    const precision = new Float64Array(T * R * K * A * M).fill(-1);
    const recall = new Float64Array(T * K * A * M).fill(-1);
    const scores = new Float64Array(T * R * K * A * M).fill(-1);

    evaluations.forEach((evaluation, k) => {
      const n = evaluation.count;
      // Images concatenated in ascending id, then a stable sort by score: image id breaks ties.
      const order = Array.from({ length: n }, (_, j) => j);
      order.sort(
        (a, b) =>
          compareScoresDescending(evaluation.score[a] as number, evaluation.score[b] as number) ||
          a - b,
      );
      const selected = new Int32Array(n);
      // Curves for every threshold at once, [t][i], so the state is read in memory order.
      const recallCurves = new Float64Array(T * n);
      const precisionCurves = new Float64Array(T * n);
      const truePositives = new Float64Array(T);
      const falsePositives = new Float64Array(T);
      for (let m = 0; m < M; m++) {
        const maxDet = p.maxDets[m] as number;
        let nd = 0;
        for (const j of order) if ((evaluation.rank[j] as number) < maxDet) selected[nd++] = j;
        for (let a = 0; a < A; a++) {
          const npig = evaluation.nonIgnoredGt[a] as number;
          if (npig === 0) continue;
          truePositives.fill(0);
          falsePositives.fill(0);
          for (let i = 0; i < nd; i++) {
            const stateBase = ((selected[i] as number) * A + a) * T;
            for (let t = 0; t < T; t++) {
              const outcome = evaluation.state[stateBase + t];
              if (outcome === TRUE_POSITIVE) truePositives[t] = (truePositives[t] as number) + 1;
              else if (outcome === FALSE_POSITIVE)
                falsePositives[t] = (falsePositives[t] as number) + 1;
              const tp = truePositives[t] as number;
              recallCurves[t * n + i] = tp / npig;
              precisionCurves[t * n + i] = tp / ((falsePositives[t] as number) + tp + EPSILON);
            }
          }
          for (let t = 0; t < T; t++) {
            const offset = t * n;
            recall[((t * K + k) * A + a) * M + m] =
              nd > 0 ? (recallCurves[offset + nd - 1] as number) : 0;
            // Precision envelope: non-increasing from the right.
            for (let i = offset + nd - 1; i > offset; i--) {
              if ((precisionCurves[i] as number) > (precisionCurves[i - 1] as number)) {
                precisionCurves[i - 1] = precisionCurves[i] as number;
              }
            }
            const cellBase = (t * R * K + k) * A * M + a * M + m;
            const rStride = K * A * M;
            for (let r = 0; r < R; r++) {
              precision[cellBase + r * rStride] = 0;
              scores[cellBase + r * rStride] = 0;
            }
            for (let r = 0; r < R; r++) {
              // np.searchsorted(rc, recThr, side='left'); the first index past the end ends the loop.
              const threshold = p.recThrs[r] as number;
              let lo = 0;
              let hi = nd;
              while (lo < hi) {
                const mid = (lo + hi) >>> 1;
                if ((recallCurves[offset + mid] as number) < threshold) lo = mid + 1;
                else hi = mid;
              }
              if (lo >= nd) break;
              precision[cellBase + r * rStride] = precisionCurves[offset + lo] as number;
              scores[cellBase + r * rStride] = evaluation.score[selected[lo] as number] as number;
            }
          }
        }
      }
    });
    this.accumulation = { counts: [T, R, K, A, M], precision, recall, scores };
    return this.accumulation;
  }

  /** The accumulated arrays (runs evaluate and accumulate when needed). */
  getAccumulation(): CocoAccumulation {
    return this.accumulation ?? this.accumulate();
  }

  /** pycocotools `summarize()`: the 12 stats and the printed lines (runs what it needs). */
  summarize(): CocoSummary {
    return summarize(this.getAccumulation(), this.params);
  }

  /** AP, AP50, AP75 and AR of each evaluated category (one entry, id -1, without useCats). */
  perCategory(): CategoryMetrics[] {
    return perCategoryMetrics(this.getAccumulation(), this.params);
  }
}
