import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Renders a Vega-Lite spec to SVG headlessly (vega's `renderer: 'none'` + `toSVG`). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The same chart as PNG (sharp rasterises the SVG). */
export function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
}

const width = 520;
const height = 220;

export function lineChart(options: {
  title: string;
  rows: readonly Record<string, number | string>[];
  x: string;
  y: string;
  series?: string;
  logY?: boolean;
  xTitle?: string;
  yTitle?: string;
}): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: options.title,
    width,
    height,
    data: { values: options.rows as Record<string, number | string>[] },
    mark: { type: 'line', point: options.rows.length <= 30 },
    encoding: {
      x: { field: options.x, type: 'quantitative', title: options.xTitle ?? options.x },
      y: {
        field: options.y,
        type: 'quantitative',
        title: options.yTitle ?? options.y,
        ...(options.logY ? { scale: { type: 'log' } } : {}),
      },
      ...(options.series ? { color: { field: options.series, type: 'nominal', title: null } } : {}),
    },
  };
}

export function barChart(options: {
  title: string;
  rows: readonly Record<string, number | string>[];
  category: string;
  value: string;
  series?: string;
}): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: options.title,
    width,
    height,
    data: { values: options.rows as Record<string, number | string>[] },
    mark: 'bar',
    encoding: {
      x: { field: options.category, type: 'nominal', title: null },
      y: { field: options.value, type: 'quantitative', title: options.value },
      ...(options.series
        ? {
            color: { field: options.series, type: 'nominal', title: null },
            xOffset: { field: options.series },
          }
        : {}),
    },
  };
}

export function histogram(options: {
  title: string;
  rows: readonly Record<string, number | string>[];
  field: string;
  series?: string;
}): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: options.title,
    width,
    height,
    data: { values: options.rows as Record<string, number | string>[] },
    mark: { type: 'bar', opacity: 0.7 },
    encoding: {
      x: { field: options.field, type: 'quantitative', bin: { maxbins: 30 }, title: options.field },
      y: { aggregate: 'count', type: 'quantitative', stack: null },
      ...(options.series ? { color: { field: options.series, type: 'nominal', title: null } } : {}),
    },
  };
}
