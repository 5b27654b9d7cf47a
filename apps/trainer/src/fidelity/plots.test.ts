import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderFidelityDocs } from './docs';
import type { Matrix } from './matrix';
import { tablePlots, writeFidelityPlots } from './plots';
import type { FidelityResult } from './results';
import { testCell, testResult } from './testing';

const cell = (id: string) => testCell(id);

const arMetrics = [
  { key: 'AR@100', label: 'AR100', scale: 100, digits: 1 },
  { key: 'AR@300', label: 'AR300', scale: 100, digits: 1 },
];

const matrix: Matrix = {
  data: [{ id: 'default', description: 'default' }],
  cells: [cell('a'), cell('b')],
  tables: [
    {
      id: 'bars',
      paper: 'Guided Anchoring',
      title: 'Bars',
      note: '',
      metrics: arMetrics,
      rows: [
        { label: 'A', cell: 'a', paper: [null, null] },
        { label: 'B', cell: 'b', paper: [null, null] },
        { label: 'C', paper: [null, null], note: 'no cell' },
      ],
    },
    {
      id: 'lines',
      paper: 'Guided Anchoring',
      title: 'Lines',
      note: '',
      metrics: arMetrics,
      rows: [
        { label: 'A', cell: 'a', paper: [null, null] },
        { label: 'B', cell: 'b', paper: [null, null] },
      ],
      plots: [
        {
          id: 'recall',
          title: 'Recall',
          kind: 'lines',
          xTitle: 'proposals',
          yTitle: 'AR (%)',
          points: ['A', 'B'].flatMap((row) =>
            [100, 300].map((x) => ({ row, metric: `AR@${x}`, series: row, x })),
          ),
        },
      ],
    },
  ],
  claims: [],
  quick: [],
  assumedStepSeconds: {},
  assumedEvalSeconds: 1,
};

const result = (id: 'a' | 'b', seed: number, ar100: number, ar300: number): FidelityResult =>
  testResult(matrix.cells.find((c) => c.id === id)!, seed, {
    main: { metrics: { 'AR@100': ar100, 'AR@300': ar300 } },
  });

const results = new Map(
  [result('a', 0, 0.2, 0.3), result('a', 1, 0.4, 0.5), result('b', 0, 0.1, 0.2)].map((r) => [
    r.run,
    r,
  ]),
);

describe('fidelity plots', () => {
  it("default: one bar per row with results (the first metric, in the table's units, ± sd)", () => {
    const [plot] = tablePlots(matrix, results, matrix.tables[0]!);
    expect(plot).toMatchObject({ id: 'bars', kind: 'bars', yTitle: 'AR100' });
    expect(plot!.points.map((p) => [p.x, p.seeds])).toEqual([
      ['A', 2],
      ['B', 1],
    ]);
    const a = plot!.points[0]!;
    expect(a.mean).toBeCloseTo(30, 10);
    // Sample sd of 20 and 40.
    expect(a.high - a.mean).toBeCloseTo(Math.SQRT2 * 10, 10);
    expect(plot!.points[1]).toMatchObject({ mean: 10, low: 10, high: 10 });
  });

  it('a table’s own line plot maps rows and metrics to series and x; no results, no plot', () => {
    const [plot] = tablePlots(matrix, results, matrix.tables[1]!);
    expect(plot!.points.map((p) => [p.series, p.x, Number(p.mean.toFixed(6))])).toEqual([
      ['A', 100, 30],
      ['A', 300, 40],
      ['B', 100, 10],
      ['B', 300, 20],
    ]);
    expect(tablePlots(matrix, new Map(), matrix.tables[1]!)).toEqual([]);
    const broken = {
      ...matrix.tables[1]!,
      plots: [
        {
          ...matrix.tables[1]!.plots![0]!,
          points: [{ row: 'Z', metric: 'AR@100', series: 'Z', x: 1 }],
        },
      ],
    };
    expect(() => tablePlots(matrix, results, broken)).toThrow("no row 'Z'");
  });

  it('writes an SVG per plot, removes plots that no longer exist, and the page links them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'det-fidelity-plots-'));
    try {
      await writeFile(join(dir, 'old.svg'), '<svg/>');
      const plots = matrix.tables.flatMap((table) => tablePlots(matrix, results, table));
      await writeFidelityPlots(dir, plots);
      expect(existsSync(join(dir, 'old.svg'))).toBe(false);
      const svg = await readFile(join(dir, 'recall.svg'), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('Recall');
      expect(svg).toContain('proposals');
      expect(existsSync(join(dir, 'bars.svg'))).toBe(true);
      const page = renderFidelityDocs(matrix, results, { commands: [] });
      expect(page).toContain('![Recall](fidelity/plots/recall.svg)');
      expect(page).toContain('![AR100 (mean ± sd over seeds)](fidelity/plots/bars.svg)');
      expect(renderFidelityDocs(matrix, new Map(), { commands: [] })).not.toContain('![');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
