import { describe, expect, it } from 'vitest';
import type { AnchorSpec } from './anchor-encoding';
import { greedyAnchorSearch, uniformCodeCandidates } from './greedy-anchor-search';
import { presetAnchors } from './presets';

/** A stand-in for COCO AP: rewards covering ratios 1/2 and 2, penalises duplicates. */
async function fakeAp(anchors: readonly AnchorSpec[]): Promise<number> {
  const ratios = anchors.map((a) => ('ratio' in a ? a.ratio : 1));
  const distinct = new Set(ratios);
  let score = 0;
  if (distinct.has(0.5)) score += 0.3;
  if (distinct.has(2)) score += 0.3;
  if (distinct.has(1)) score += 0.1;
  return score - 0.01 * (ratios.length - distinct.size);
}

describe('greedy anchor search (§4.1.2)', () => {
  it('keeps a drawn anchor only when the score improves, deterministically by seed', async () => {
    const pool = presetAnchors('3x3');
    const calls: number[] = [];
    const score = async (anchors: readonly AnchorSpec[]) => {
      calls.push(anchors.length);
      return fakeAp(anchors);
    };
    const result = await greedyAnchorSearch({ score, candidates: pool, steps: 9, seed: 3 });
    expect(result.trace).toHaveLength(9);
    expect(calls).toHaveLength(9);
    // Exactly one anchor per useful ratio is kept: the score reaches 0.7.
    expect(result.score).toBeCloseTo(0.7, 12);
    expect(result.anchors).toHaveLength(3);
    expect(new Set(result.anchors.map((a) => (a as { ratio: number }).ratio))).toEqual(
      new Set([0.5, 1, 2]),
    );
    let best = 0;
    for (const step of result.trace) {
      expect(step.accepted).toBe(step.score > best);
      best = Math.max(best, step.score);
      expect(step.bestScore).toBe(best);
    }
    const again = await greedyAnchorSearch({ score: fakeAp, candidates: pool, steps: 9, seed: 3 });
    expect(again).toEqual(result);
    const other = await greedyAnchorSearch({ score: fakeAp, candidates: pool, steps: 9, seed: 4 });
    expect(other.trace.map((s) => s.candidate)).not.toEqual(result.trace.map((s) => s.candidate));
  });

  it('stops when the pool is used up, handles zero steps, draws from a sampler', async () => {
    const pool = presetAnchors('3x3').slice(0, 2);
    const short = await greedyAnchorSearch({ score: fakeAp, candidates: pool, steps: 10 });
    expect(short.trace).toHaveLength(2);
    const none = await greedyAnchorSearch({ score: fakeAp, candidates: pool, steps: 0 });
    expect(none).toEqual({ anchors: [], score: 0, trace: [] });
    const sampled = await greedyAnchorSearch({
      score: async (anchors) => anchors.length - 0.1 * anchors.length ** 2,
      candidates: uniformCodeCandidates({ low: -0.5, high: 0.5 }),
      steps: 6,
      seed: 1,
    });
    expect(sampled.trace).toHaveLength(6);
    for (const step of sampled.trace) {
      const [h, w] = (step.candidate as { code: [number, number] }).code;
      expect(Math.abs(h)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(w)).toBeLessThanOrEqual(0.5);
    }
    // Gains 0.9, 0.7, 0.5, 0.3, 0.1, then −0.1: five kept.
    expect(sampled.anchors).toHaveLength(5);
    await expect(
      greedyAnchorSearch({ score: async () => Number.NaN, candidates: pool, steps: 1 }),
    ).rejects.toThrow(/score returned NaN at step 0/);
    await expect(
      greedyAnchorSearch({ score: fakeAp, candidates: pool, steps: -1 }),
    ).rejects.toThrow(/steps must be an integer/);
  });
});
