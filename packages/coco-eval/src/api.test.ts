import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-main';
import { type CocoDetections, loadResults, loadResultsJson } from './detections';
import { CocoInputError } from './errors';
import { CocoEvaluator } from './evaluator';
import { sharedFixturesDir } from './fixture-paths';
import { formatFixed } from './format-fixed';
import { CocoGroundTruth } from './ground-truth';
import { pairwiseSum } from './pairwise-sum';
import { defaultParams, linspace } from './params';
import { scanResults } from './results-scanner';

const casesDir = path.join(sharedFixturesDir(), 'cases');
const read = (name: string, file: string) => readFileSync(path.join(casesDir, name, file), 'utf8');
const groundTruthOf = (name: string) =>
  CocoGroundTruth.fromJson(read(name, 'gt.json'), `${name}/gt.json`);

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    readFile: async (file) => readFileSync(file, 'utf8'),
  });
  return { code, stdout, stderr };
}

describe('numpy emulation', () => {
  it('linspace gives pycocotools thresholds, not 0.5 + 0.05 i', () => {
    const { iouThrs, recThrs } = defaultParams();
    expect(iouThrs[7]).toBe(0.85);
    expect(iouThrs[8]).toBe(0.8999999999999999);
    expect(recThrs[35]).toBe(0.35000000000000003);
    expect(recThrs[70]).toBe(0.7000000000000001);
    expect(linspace(0, 1, 1)).toEqual([0]);
  });

  it('pairwise sum differs from a left-to-right sum where numpy does', () => {
    // The classic case: Python's sum([0.1] * 10) is 0.9999999999999999, np.sum gives 1.0.
    const tenths = new Array(10).fill(0.1);
    expect(tenths.reduce((sum, value) => sum + value, 0)).toBe(0.9999999999999999);
    expect(pairwiseSum(tenths)).toBe(1);
    expect(pairwiseSum([1, 2, 3])).toBe(6);
    expect(pairwiseSum([])).toBe(0);
  });

  it('formats like Python: exact ties go to even', () => {
    expect(formatFixed(0.0625, 3)).toBe('0.062');
    expect(formatFixed(0.1875, 3)).toBe('0.188');
    expect(formatFixed(-1, 3)).toBe('-1.000');
    expect(formatFixed(0.30552032875768087, 3)).toBe('0.306');
    expect(formatFixed(0.125, 2)).toBe('0.12');
  });
});

describe('results loading', () => {
  it('the fast scanner gives the same columns as JSON.parse + loadResults on every shared case', () => {
    const names = readdirSync(casesDir).filter((n) => !n.startsWith('err_'));
    expect(names.length).toBeGreaterThanOrEqual(8);
    for (const name of names) {
      const text = read(name, 'dt.json');
      const scanned = scanResults(text) as CocoDetections;
      const parsed = loadResults(groundTruthOf(name), JSON.parse(text));
      expect(scanned.count, name).toBe(parsed.count);
      for (const key of ['imageId', 'categoryId', 'score', 'area'] as const) {
        expect(Array.from(scanned[key].subarray(0, scanned.count)), `${name} ${key}`).toEqual(
          Array.from(parsed[key].subarray(0, parsed.count)),
        );
      }
      expect(Array.from(scanned.box.subarray(0, 4 * scanned.count))).toEqual(
        Array.from(parsed.box.subarray(0, 4 * parsed.count)),
      );
    }
  });

  it('the scanner hands unusual input to the validating path', () => {
    expect(
      scanResults(
        '[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1e-3, "x": {"a": [1, "]"]}}]',
      )?.score[0],
    ).toBe(0.001);
    expect(
      scanResults('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]'),
    ).toBeUndefined();
    expect(
      scanResults('[{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 01}]'),
    ).toBeUndefined();
    expect(scanResults('[1,]')).toBeUndefined();
    expect(scanResults(' [ ] ')?.count).toBe(0);
  });

  it('a detection on an unknown image fails and names the id', () => {
    const groundTruth = groundTruthOf('err_unknown_image');
    expect(() =>
      loadResultsJson(groundTruth, read('err_unknown_image', 'dt.json'), 'dt.json'),
    ).toThrow(/dt\.json: detections refer to image ids that are not in the ground truth images: 4/);
    const evaluator = new CocoEvaluator({ groundTruth });
    expect(() => evaluator.process(4, [])).toThrow(/image id 4 is not in the ground truth/);
  });

  it('malformed JSON and missing fields name the file, record and field', () => {
    const groundTruth = groundTruthOf('basic');
    expect(() => loadResultsJson(groundTruth, '[{"image_id": 1,', 'dt.json')).toThrow(
      /dt\.json: malformed JSON/,
    );
    expect(() =>
      loadResultsJson(
        groundTruth,
        '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}, {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]',
        'dt.json',
      ),
    ).toThrow('dt.json: detection id 2 (results[1]): missing required field "score"');
    expect(() =>
      loadResults(groundTruth, [{ image_id: 1, category_id: 1, bbox: [0, 0, 1], score: 1 }], {
        source: 'dt.json',
      }),
    ).toThrow(
      /dt\.json: detection id 1 \(results\[0\]\): field "bbox" must be \[x, y, width, height\]/,
    );
    const dataset = JSON.parse(read('basic', 'gt.json'));
    delete dataset.annotations[3].area;
    const id = dataset.annotations[3].id;
    expect(() => new CocoGroundTruth({ dataset, source: 'gt.json' })).toThrow(
      new CocoInputError(
        `gt.json: annotation id ${id} (annotations[3]): missing required field "area"`,
      ),
    );
    expect(() => CocoGroundTruth.fromJson('{"images": [', 'gt.json')).toThrow(
      /gt\.json: malformed JSON/,
    );
    expect(() => CocoGroundTruth.fromJson('{"images": [], "annotations": []}', 'gt.json')).toThrow(
      'gt.json: ground truth: missing required field "categories"',
    );
  });
});

describe('incremental API', () => {
  it('process() with typed arrays, image by image and out of order, equals loadResults on the file', () => {
    const name = 'basic';
    const groundTruth = groundTruthOf(name);
    const results = JSON.parse(read(name, 'dt.json')) as {
      image_id: number;
      category_id: number;
      bbox: number[];
      score: number;
    }[];
    const reference = new CocoEvaluator({
      groundTruth,
      detections: loadResults(groundTruth, results),
    }).summarize();

    const evaluator = new CocoEvaluator({ groundTruth });
    // Same order as the file (ids follow process order, and ids break no ties here,
    // but file order does within an image and category).
    let start = 0;
    while (start < results.length) {
      let end = start;
      while (end < results.length && results[end]?.image_id === results[start]?.image_id) end++;
      const chunk = results.slice(start, end);
      evaluator.process(chunk[0]?.image_id as number, {
        boxes: Float32Array.from(chunk.flatMap((r) => r.bbox)).map(
          (_, i) => chunk[Math.floor(i / 4)]?.bbox[i % 4] as number,
        ),
        scores: Float64Array.from(chunk.map((r) => r.score)),
        categoryIds: Int32Array.from(chunk.map((r) => r.category_id)),
      });
      start = end;
    }
    expect(evaluator.summarize()).toEqual(reference);
  });

  it('an empty evaluator gives 0 for categories with GT and -1 elsewhere', () => {
    const groundTruth = groundTruthOf('noncontig_cats');
    const evaluator = new CocoEvaluator({ groundTruth });
    const { stats } = evaluator.summarize();
    expect(stats[0]).toBe(0);
    const gt = JSON.parse(read('noncontig_cats', 'gt.json')) as {
      categories: { id: number }[];
      annotations: { category_id: number }[];
    };
    const withGt = new Set(gt.annotations.map((annotation) => annotation.category_id));
    const expected = Object.fromEntries(
      gt.categories.map((category) => [category.id, withGt.has(category.id) ? 0 : -1]),
    );
    // The case has both kinds: categories 1, 3, 90 with GT and 7 without.
    expect(Object.values(expected).sort()).toEqual([-1, 0, 0, 0]);
    const actual = Object.fromEntries(
      evaluator.perCategory().map((metrics) => [metrics.categoryId, metrics.ap]),
    );
    expect(actual).toEqual(expected);
  });

  it('summarize needs three maxDets', () => {
    const evaluator = new CocoEvaluator({
      groundTruth: groundTruthOf('basic'),
      params: { maxDets: [1, 10] },
    });
    expect(() => evaluator.summarize()).toThrow(/at least 3 maxDets/);
  });
});

describe('det-coco-eval CLI', () => {
  const args = (name: string) => [
    '--gt',
    path.join(casesDir, name, 'gt.json'),
    '--dt',
    path.join(casesDir, name, 'dt.json'),
  ];
  const expected = (name: string) =>
    JSON.parse(readFileSync(path.join(sharedFixturesDir(), 'expected', `${name}.json`), 'utf8'));

  it('prints the pycocotools table', async () => {
    const result = await cli(args('basic'));
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${expected('basic').summary_lines.join('\n')}\n`);
  });

  it('--json gives stats and per-category AP/AR; proposal mode via --use-cats 0 --max-dets', async () => {
    const result = await cli([
      ...args('proposal'),
      '--use-cats',
      '0',
      '--max-dets',
      '100,300,1000',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout);
    const reference = expected('proposal');
    expect(output.stats).toEqual(reference.stats);
    const { ap, ap50, ap75, ar } = reference.per_category['-1'];
    expect(output.perCategory).toEqual({ '-1': { ap, ap50, ap75, ar } });
  });

  it('--img-ids and --cat-ids restrict the evaluation', async () => {
    const result = await cli([...args('basic'), '--img-ids', '3,1', '--cat-ids', '2', '--json']);
    expect(result.code).toBe(0);
    expect(Object.keys(JSON.parse(result.stdout).perCategory)).toEqual(['2']);
  });

  it('an unknown image id exits non-zero naming the id', async () => {
    const result = await cli(args('err_unknown_image'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/image ids that are not in the ground truth images: 4/);
  });

  it('empty results (a pycocotools IndexError) warn and report the stats for no detections', async () => {
    const result = await cli([...args('err_empty_results'), '--json']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: .*empty results list/);
    const output = JSON.parse(result.stdout);
    expect(output.stats[0]).toBe(0);
    const perCategory = Object.values(output.perCategory) as { ap: number }[];
    expect(perCategory.length).toBeGreaterThan(0);
    for (const metrics of perCategory) expect(metrics.ap).toBe(0);
  });

  it('bad options and missing files are reported', async () => {
    expect((await cli([...args('basic'), '--max-dets', '1,x,100'])).code).not.toBe(0);
    expect((await cli([...args('basic'), '--use-cats', '2'])).code).not.toBe(0);
    const missing = await cli(['--gt', '/nonexistent/gt.json', '--dt', '/nonexistent/dt.json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nonexistent\/gt\.json/);
  });
});
