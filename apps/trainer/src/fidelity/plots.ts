import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../charts';
import type { Matrix, PlotSpec, TableSpec } from './matrix';
import type { FidelityResult } from './results';
import { meanSd, rowValues } from './values';

/** The plots' folder, relative to the page (docs/fidelity.md → docs/fidelity/plots/). */
export const plotsFolder = 'fidelity/plots';

/** One point of a plot: a row's mean over seeds (in the table's units) and its ± sd span. */
export interface PlotPoint {
  series: string;
  x: number | string;
  mean: number;
  low: number;
  high: number;
  seeds: number;
}

export interface PlotData {
  id: string;
  title: string;
  kind: PlotSpec['kind'];
  xTitle: string;
  yTitle: string;
  logX: boolean;
  ordinalX: boolean;
  points: PlotPoint[];
}

/**
 * A table's plots: its own (`table.plots`), else one bar per row of its first metric. Points
 * without results are left out; a plot without any point is not drawn.
 */
export function tablePlots(
  matrix: Matrix,
  results: ReadonlyMap<string, FidelityResult>,
  table: TableSpec,
): PlotData[] {
  const first = table.metrics[0]!;
  const specs: PlotSpec[] = table.plots ?? [
    {
      id: table.id,
      title: `${first.label} (mean ± sd over seeds)`,
      kind: 'bars',
      xTitle: '',
      yTitle: first.label,
      points: table.rows
        .filter((row) => row.cell)
        .map((row) => ({ row: row.label, metric: first.key, series: row.label, x: row.label })),
    },
  ];
  return specs.flatMap((spec) => {
    const points = spec.points.flatMap((point): PlotPoint[] => {
      const row = table.rows.find((r) => r.label === point.row);
      const metric = table.metrics.find((m) => m.key === point.metric);
      if (!row || !metric)
        throw new Error(
          `fidelity plot '${spec.id}': no row '${point.row}' or metric '${point.metric}' in ${table.id}`,
        );
      const values = rowValues(matrix, results, row, metric.key).map((v) => v * metric.scale);
      if (values.length === 0) return [];
      const { mean, sd, n } = meanSd(values);
      return [
        { series: point.series, x: point.x, mean, low: mean - sd, high: mean + sd, seeds: n },
      ];
    });
    if (points.length === 0) return [];
    return [
      {
        id: spec.id,
        title: spec.title,
        kind: spec.kind,
        xTitle: spec.xTitle,
        yTitle: spec.yTitle,
        logX: spec.logX ?? false,
        ordinalX: spec.ordinalX ?? false,
        points,
      },
    ];
  });
}

/**
 * Vega-Lite: lines of the means over a numeric x, or horizontal bars (one per row, labels
 * left, where long row names stay readable); the seeds' ± sd as error bars on both.
 */
export function plotSpec(plot: PlotData): TopLevelSpec {
  const values = plot.points as unknown as Record<string, unknown>[];
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    sort: null,
    legend: { labelLimit: 300 },
  };
  const header = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: plot.title,
    width: 480,
    data: { values },
  };
  if (plot.kind === 'bars') {
    const row = {
      field: 'x',
      type: 'nominal' as const,
      title: plot.xTitle || null,
      sort: null,
      axis: { labelLimit: 400 },
    };
    return {
      ...header,
      height: { step: 22 },
      encoding: { y: row },
      layer: [
        {
          mark: 'bar',
          encoding: {
            x: { field: 'mean', type: 'quantitative', title: plot.yTitle },
            color: { ...color, legend: null },
          },
        },
        {
          mark: { type: 'errorbar', ticks: { size: 10 } },
          encoding: {
            x: { field: 'low', type: 'quantitative', title: plot.yTitle },
            x2: { field: 'high' },
          },
        },
      ],
    } as TopLevelSpec;
  }
  return {
    ...header,
    height: 240,
    encoding: {
      x: plot.ordinalX
        ? { field: 'x', type: 'ordinal', title: plot.xTitle, sort: null, axis: { labelAngle: 0 } }
        : {
            field: 'x',
            type: 'quantitative',
            title: plot.xTitle,
            // Ticks where the points are (100 / 300 / 1000 proposals, n = 3 … 9).
            axis: { values: [...new Set(plot.points.map((point) => point.x))] },
            ...(plot.logX ? { scale: { type: 'log' } } : {}),
          },
    },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: { y: { field: 'mean', type: 'quantitative', title: plot.yTitle }, color },
      },
      {
        mark: { type: 'errorbar', ticks: { size: 10 } },
        encoding: {
          y: { field: 'low', type: 'quantitative', title: plot.yTitle },
          y2: { field: 'high' },
          color,
        },
      },
    ],
  } as TopLevelSpec;
}

/** The page's plot files: `<dir>/<id>.svg` for every plot with data; stale ones removed. */
export async function writeFidelityPlots(dir: string, plots: readonly PlotData[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const keep = new Set(plots.map((plot) => `${plot.id}.svg`));
  for (const name of await readdir(dir))
    if (name.endsWith('.svg') && !keep.has(name)) await rm(join(dir, name));
  for (const plot of plots)
    await writeFile(join(dir, `${plot.id}.svg`), `${await renderSvg(plotSpec(plot))}\n`);
}
