import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadResults } from './detections';
import { CocoEvaluator } from './evaluator';
import { CocoGroundTruth } from './ground-truth';
import { pairwiseSum } from './pairwise-sum';
import type { CocoEvalParams } from './params';

/**
 * Our own cases, one or more per line of the shared README's checklist. Expected values
 * come from scripts/fixtures/coco-eval-cases.py: a transcription of pycocotools' bbox
 * evaluation run with numpy, which first proves itself bit-identical to real pycocotools
 * on every shared case.
 */
interface OwnCase {
  name: string;
  checks: string;
  gt: unknown;
  dt: unknown[];
  params: Partial<Omit<CocoEvalParams, 'useCats'>> & { useCats?: number };
  expected: {
    stats: number[];
    summary_lines: string[];
    per_category: Record<
      string,
      {
        ap: number;
        ap50: number;
        ap75: number;
        ar: number;
        ap_grid: number[][];
        ar_grid: number[][];
      }
    >;
    recall: number[][][][];
    precision_sum: number;
    scores_sum: number;
    params: { imgIds: number[]; catIds: number[]; maxDets: number[] };
  };
}

const fixture = JSON.parse(
  readFileSync(new URL('./__fixtures__/coco-eval-cases.json', import.meta.url), 'utf8'),
) as { cases: OwnCase[] };

function evaluatorFor(testCase: OwnCase): CocoEvaluator {
  const groundTruth = new CocoGroundTruth({
    dataset: structuredClone(testCase.gt),
    source: `${testCase.name}/gt`,
  });
  const detections = loadResults(groundTruth, structuredClone(testCase.dt), {
    source: `${testCase.name}/dt`,
  });
  const { useCats, ...rest } = testCase.params;
  const params: Partial<CocoEvalParams> = { ...rest };
  if (useCats !== undefined) params.useCats = useCats === 1;
  return new CocoEvaluator({ groundTruth, detections, params });
}

describe('own checklist cases (expected from the pycocotools transcription)', () => {
  it('has the cases', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(20);
  });

  for (const testCase of fixture.cases) {
    it(`${testCase.name}: ${testCase.checks}`, () => {
      const evaluator = evaluatorFor(testCase);
      const summary = evaluator.summarize();
      const expected = testCase.expected;
      expect(summary.stats).toEqual(expected.stats);
      expect(summary.lines).toEqual(expected.summary_lines);
      expect(evaluator.params.imgIds).toEqual(expected.params.imgIds);
      expect(evaluator.params.maxDets).toEqual(expected.params.maxDets);
      const accumulation = evaluator.getAccumulation();
      expect(Array.from(accumulation.recall)).toEqual(expected.recall.flat(3));
      expect(pairwiseSum(accumulation.precision)).toEqual(expected.precision_sum);
      expect(pairwiseSum(accumulation.scores)).toEqual(expected.scores_sum);
      const perCategory = Object.fromEntries(
        evaluator.perCategory().map((m) => [
          String(m.categoryId),
          {
            ap: m.ap,
            ap50: m.ap50,
            ap75: m.ap75,
            ar: m.ar,
            ap_grid: m.apGrid,
            ar_grid: m.arGrid,
          },
        ]),
      );
      expect(perCategory).toEqual(expected.per_category);
    });
  }
});
