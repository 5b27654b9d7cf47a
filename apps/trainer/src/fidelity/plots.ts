import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../charts';
import { meanSd, rowValues } from './docs';
import type { Matrix, PlotSpec, TableSpec } from './matrix';
import type { FidelityResult } from './results';

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
      title: `${first.label} per row`,
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
        points,
      },
    ];
  });
}

/** Vega-Lite: the means as lines (numeric x) or bars (rows), with the seeds' ± sd as error bars. */
export function plotSpec(plot: PlotData): TopLevelSpec {
  const bars = plot.kind === 'bars';
  const x = bars
    ? {
        field: 'x',
        type: 'nominal' as const,
        title: plot.xTitle || null,
        sort: null,
        axis: { labelAngle: -25, labelLimit: 220 },
      }
    : {
        field: 'x',
        type: 'quantitative' as const,
        title: plot.xTitle,
        ...(plot.logX ? { scale: { type: 'log' as const } } : {}),
      };
  const color = { field: 'series', type: 'nominal' as const, title: null, sort: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: plot.title,
    width: 520,
    height: 240,
    data: { values: plot.points as unknown as Record<string, unknown>[] },
    encoding: { x },
    layer: [
      bars
        ? {
            mark: 'bar',
            encoding: {
              y: { field: 'mean', type: 'quantitative', title: plot.yTitle },
              color: { ...color, legend: null },
            },
          }
        : {
            mark: { type: 'line', point: true },
            encoding: { y: { field: 'mean', type: 'quantitative', title: plot.yTitle }, color },
          },
      {
        mark: { type: 'errorbar', ticks: true },
        encoding: {
          y: { field: 'low', type: 'quantitative', title: plot.yTitle },
          y2: { field: 'high' },
          ...(bars ? {} : { color }),
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
