import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadResultsJson } from './detections';
import { CocoEvaluator } from './evaluator';
import { sharedFixturesDir } from './fixture-paths';
import { CocoGroundTruth } from './ground-truth';
import type { CocoEvalParams } from './params';

interface ExpectedCase {
  case: string;
  input_params: { useCats: number; maxDets: number[]; imgIds?: number[]; catIds?: number[] };
  stats?: number[];
  per_category?: Record<
    string,
    { ap: number; ap50: number; ap75: number; ar: number; ap_grid: number[][]; ar_grid: number[][] }
  >;
  recall?: number[][][][];
  params?: {
    imgIds: number[];
    catIds: number[];
    maxDets: number[];
    iouThrs: number[];
    recThrs: number[];
  };
  summary_lines?: string[];
  error?: { stage: string; type: string; message: string };
}

const fixturesDir = sharedFixturesDir();
const cases = readdirSync(path.join(fixturesDir, 'expected'))
  .filter((name) => name.endsWith('.json'))
  .map(
    (name) =>
      JSON.parse(readFileSync(path.join(fixturesDir, 'expected', name), 'utf8')) as ExpectedCase,
  );

function runCase(name: string, input: ExpectedCase['input_params']): CocoEvaluator {
  const dir = path.join(fixturesDir, 'cases', name);
  const gtFile = path.join(dir, 'gt.json');
  const dtFile = path.join(dir, 'dt.json');
  const groundTruth = CocoGroundTruth.fromJson(readFileSync(gtFile, 'utf8'), gtFile);
  const detections = loadResultsJson(groundTruth, readFileSync(dtFile, 'utf8'), dtFile);
  const params: Partial<CocoEvalParams> = { useCats: input.useCats === 1, maxDets: input.maxDets };
  if (input.imgIds) params.imgIds = input.imgIds;
  if (input.catIds) params.catIds = input.catIds;
  return new CocoEvaluator({ groundTruth, detections, params });
}

describe('pycocotools reference cases (../shared/fixtures/coco-eval)', () => {
  it('has the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const expected of cases.filter((c) => !c.error)) {
    it(`${expected.case}: stats, per-category AP/AR, recall and summary match bit for bit`, () => {
      const evaluator = runCase(expected.case, expected.input_params);
      const summary = evaluator.summarize();
      expect(summary.stats).toEqual(expected.stats);
      expect(summary.lines).toEqual(expected.summary_lines);
      expect(evaluator.params.imgIds).toEqual(expected.params?.imgIds);
      expect(evaluator.params.iouThrs).toEqual(expected.params?.iouThrs);
      expect(evaluator.params.recThrs).toEqual(expected.params?.recThrs);
      expect(evaluator.params.maxDets).toEqual(expected.params?.maxDets);

      const accumulation = evaluator.getAccumulation();
      const [T, , K, A, M] = accumulation.counts;
      const recall = expected.recall as number[][][][];
      expect([
        recall.length,
        recall[0]?.length,
        recall[0]?.[0]?.length,
        recall[0]?.[0]?.[0]?.length,
      ]).toEqual([T, K, A, M]);
      expect(Array.from(accumulation.recall)).toEqual(recall.flat(3));

      const perCategory = Object.fromEntries(
        evaluator.perCategory().map((metrics) => [
          String(metrics.categoryId),
          {
            ap: metrics.ap,
            ap50: metrics.ap50,
            ap75: metrics.ap75,
            ar: metrics.ar,
            ap_grid: metrics.apGrid,
            ar_grid: metrics.arGrid,
          },
        ]),
      );
      expect(perCategory).toEqual(expected.per_category);
    });
  }
});
