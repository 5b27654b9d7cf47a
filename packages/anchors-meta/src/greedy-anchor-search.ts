import { mulberry32 } from '@det/core';
import type { AnchorCode, AnchorSpec } from './anchor-encoding';

/** Scores an anchor set on held-out data, e.g. COCO AP from `@det/coco-eval` of the detector's predictions. */
export type AnchorSetScorer = (anchors: readonly AnchorSpec[]) => Promise<number>;

export interface GreedyAnchorSearchOptions {
  score: AnchorSetScorer;
  /**
   * Where candidates come from: a pool drawn uniformly without replacement (the search stops
   * early when it is used up), or a function drawing one anchor from a seeded `random()`.
   */
  candidates: readonly AnchorSpec[] | ((random: () => number) => AnchorSpec);
  /** Number of candidates tried (the fixed step budget). */
  steps: number;
  seed?: number;
  /** Starting set. Default empty (§4.1.2). */
  initial?: readonly AnchorSpec[];
  /** Score of the empty set: AP of no predictions. Default 0. */
  emptyScore?: number;
  /** A candidate is kept when the score grows by more than this. Default 0 (any improvement). */
  minImprovement?: number;
}

export interface GreedySearchStep {
  step: number;
  candidate: AnchorSpec;
  /** Score of the current set plus the candidate. */
  score: number;
  accepted: boolean;
  /** Best score after this step. */
  bestScore: number;
}

export interface GreedySearchResult {
  anchors: AnchorSpec[];
  score: number;
  trace: GreedySearchStep[];
}

/**
 * MetaAnchor's inference-time anchor search (§4.1.2): each step draws one anchor box, scores
 * the current set plus it (the combined predictions) on held-out data, and keeps it only when
 * the score improves. Deterministic for a seed and a deterministic scorer.
 */
export async function greedyAnchorSearch(
  options: GreedyAnchorSearchOptions,
): Promise<GreedySearchResult> {
  const { score, candidates, steps } = options;
  if (!(Number.isInteger(steps) && steps >= 0)) {
    throw new Error(`greedyAnchorSearch: steps must be an integer ≥ 0, got ${steps}`);
  }
  if (typeof score !== 'function') {
    throw new Error('greedyAnchorSearch: score must be a function (anchors) => Promise<number>');
  }
  const minImprovement = options.minImprovement ?? 0;
  const random = mulberry32(options.seed ?? 0);
  const pool = typeof candidates === 'function' ? undefined : [...candidates];
  const anchors = [...(options.initial ?? [])];
  let best = anchors.length > 0 ? await score(anchors) : (options.emptyScore ?? 0);
  const trace: GreedySearchStep[] = [];
  for (let step = 0; step < steps; step++) {
    let candidate: AnchorSpec;
    if (pool) {
      if (pool.length === 0) break;
      const index = Math.min(Math.floor(random() * pool.length), pool.length - 1);
      candidate = pool.splice(index, 1)[0]!;
    } else {
      candidate = (candidates as (random: () => number) => AnchorSpec)(random);
    }
    const value = await score([...anchors, candidate]);
    if (!Number.isFinite(value)) {
      throw new Error(
        `greedyAnchorSearch: score returned ${value} at step ${step} for ${JSON.stringify(candidate)}`,
      );
    }
    const accepted = value > best + minImprovement;
    if (accepted) {
      anchors.push(candidate);
      best = value;
    }
    trace.push({ step, candidate, score: value, accepted, bestScore: best });
  }
  return { anchors, score: best, trace };
}

/** Candidates with b drawn uniformly in `[low, high]²` (eq. 7 codes against the model's standard box). */
export function uniformCodeCandidates(
  options: { low?: number; high?: number } = {},
): (random: () => number) => { code: AnchorCode } {
  const low = options.low ?? -1;
  const high = options.high ?? 1;
  if (!(Number.isFinite(low) && Number.isFinite(high) && low <= high)) {
    throw new Error(`uniformCodeCandidates: need finite low ≤ high, got ${low} and ${high}`);
  }
  return (random) => ({
    code: [low + (high - low) * random(), low + (high - low) * random()],
  });
}
