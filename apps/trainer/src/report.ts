import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { barChart, histogram, lineChart, renderSvg, svgToPng } from './charts';
import type { EvaluationDetails } from './evaluation';
import { listJson, readJsonLines, runPaths } from './run-folder';

/** A `log.jsonl` line. */
export interface LogLine {
  iteration: number;
  losses: Record<string, number>;
  lr: number;
  gradNorm: number;
  seconds: number;
  stepSeconds: number;
  imagesPerSecond: number;
  tensors: number;
  heapBytes: number;
}

function escapeHtml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Every `step`-th row so charts stay light on long runs (the last row is kept). */
function thin<T>(rows: readonly T[], most: number): T[] {
  if (rows.length <= most) return [...rows];
  const step = Math.ceil(rows.length / most);
  return rows.filter((_, index) => index % step === 0 || index === rows.length - 1);
}

const fixed = (value: number | undefined, digits = 3) =>
  value === undefined || value < 0 ? '–' : value.toFixed(digits);

/**
 * A table another tool adds to a run's report: `runs/<name>/tables/<name>.json` (e.g.
 * det-finetune's Table 3 comparison); numbers print with 3 decimals, negative ones as –.
 */
export interface ReportTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  note?: string;
}

/** The run folder's `tables/*.json`, in name order. */
export async function readReportTables(directory: string): Promise<ReportTable[]> {
  const tables: ReportTable[] = [];
  for (const file of await listJson(join(directory, 'tables')))
    tables.push(JSON.parse(await readFile(file, 'utf8')) as ReportTable);
  return tables;
}

/**
 * Rebuilds `runs/<name>/report.html` from the run folder: loss and LR curves, memory and
 * throughput, AP/AR per evaluation, per-class AP, precision–recall at IoU .5 and .75, the
 * validation grid (predictions and ground truth drawn) and anchor diagnostics when present.
 * Self-contained (inline SVG, base64 PNG): it opens offline. Each chart is also written as
 * `plots/<name>.svg` and `.png`.
 */
export async function buildReport(directory: string): Promise<string> {
  const paths = runPaths(directory);
  await mkdir(paths.plots, { recursive: true });
  const config = existsSync(paths.config)
    ? (JSON.parse(await readFile(paths.config, 'utf8')) as Record<string, unknown>)
    : {};
  const log = await readJsonLines<LogLine>(paths.log);
  const evals: EvaluationDetails[] = [];
  for (const file of await listJson(paths.evals))
    evals.push(JSON.parse(await readFile(file, 'utf8')) as EvaluationDetails);
  evals.sort((a, b) => a.iteration - b.iteration);
  const last = evals.at(-1);
  const sections: string[] = [];
  const charts: Array<[string, TopLevelSpec]> = [];
  const rows = thin(log, 1500);
  if (rows.length > 0) {
    charts.push([
      'losses',
      lineChart({
        title: 'Training losses',
        rows: rows.flatMap((line) =>
          Object.entries(line.losses).map(([term, value]) => ({
            iteration: line.iteration,
            term,
            value,
          })),
        ),
        x: 'iteration',
        y: 'value',
        series: 'term',
        yTitle: 'loss',
      }),
    ]);
    charts.push([
      'learning-rate',
      lineChart({
        title: 'Learning rate',
        rows: rows.map((line) => ({ iteration: line.iteration, lr: line.lr })),
        x: 'iteration',
        y: 'lr',
      }),
    ]);
    charts.push([
      'throughput',
      lineChart({
        title: 'Images per second',
        rows: rows.map((line) => ({ iteration: line.iteration, 'images/s': line.imagesPerSecond })),
        x: 'iteration',
        y: 'images/s',
      }),
    ]);
    charts.push([
      'memory',
      lineChart({
        title: 'Memory: live tensors and JS heap (MiB)',
        rows: rows.flatMap((line) => [
          { iteration: line.iteration, series: 'tensors', value: line.tensors },
          { iteration: line.iteration, series: 'heap MiB', value: line.heapBytes / 2 ** 20 },
        ]),
        x: 'iteration',
        y: 'value',
        series: 'series',
      }),
    ]);
  }
  if (evals.length > 1) {
    const names = Object.keys(evals[0]!.metrics).filter((name) =>
      /^(AP|AP50|AP75|AR100|AR@100)$/.test(name),
    );
    charts.push([
      'metrics',
      lineChart({
        title: 'Validation metrics per evaluation',
        rows: evals.flatMap((entry) =>
          names.map((name) => ({
            iteration: entry.iteration,
            metric: name,
            value: entry.metrics[name]!,
          })),
        ),
        x: 'iteration',
        y: 'value',
        series: 'metric',
      }),
    ]);
  }
  if (last && last.perClass.length > 0) {
    charts.push([
      'per-class-ap',
      barChart({
        title: `Per-class AP (iteration ${last.iteration})`,
        rows: last.perClass.flatMap((entry) => [
          { class: entry.name, metric: 'AP', value: Math.max(entry.ap, 0) },
          { class: entry.name, metric: 'AP50', value: Math.max(entry.ap50, 0) },
          { class: entry.name, metric: 'AP75', value: Math.max(entry.ap75, 0) },
        ]),
        category: 'class',
        value: 'value',
        series: 'metric',
      }),
    ]);
  }
  if (last && last.precisionRecall.iou50.length > 0) {
    const { recall, iou50, iou75 } = last.precisionRecall;
    charts.push([
      'precision-recall',
      lineChart({
        title: 'Precision–recall (mean over classes, area all)',
        rows: recall.flatMap((r, i) => [
          { recall: r, precision: iou50[i]!, iou: 'IoU 0.50' },
          ...(iou75.length > 0 ? [{ recall: r, precision: iou75[i]!, iou: 'IoU 0.75' }] : []),
        ]),
        x: 'recall',
        y: 'precision',
        series: 'iou',
      }),
    ]);
  }
  const anchorShapesFile = join(paths.plots, 'anchor-shapes.json');
  if (existsSync(anchorShapesFile)) {
    const shapes = JSON.parse(await readFile(anchorShapesFile, 'utf8')) as {
      source: string;
      rows: { series: string; 'log2 aspect ratio': number; 'log2 size': number }[];
    };
    charts.push([
      'anchor-aspect-ratios',
      histogram({
        title: `Anchor aspect ratios (${shapes.source})`,
        rows: shapes.rows,
        field: 'log2 aspect ratio',
        series: 'series',
      }),
    ]);
    charts.push([
      'anchor-sizes',
      histogram({
        title: `Anchor sizes (${shapes.source})`,
        rows: shapes.rows,
        field: 'log2 size',
        series: 'series',
      }),
    ]);
  }
  const rendered: string[] = [];
  for (const [name, spec] of charts) {
    const svg = await renderSvg(spec);
    await writeFile(join(paths.plots, `${name}.svg`), svg);
    await writeFile(join(paths.plots, `${name}.png`), await svgToPng(svg));
    rendered.push(`<figure>${svg}</figure>`);
  }

  const title = basename(directory);
  const lastLine = log.at(-1);
  const detector = (config.detector ?? {}) as { kind?: string };
  sections.push(
    `<p>Detector <b>${escapeHtml(String(detector.kind ?? '?'))}</b>${config.preset ? ` (preset ${escapeHtml(String(config.preset))})` : ''}; ` +
      (lastLine
        ? `${lastLine.iteration + 1} iterations, ${lastLine.seconds.toFixed(0)} s of training, last loss ${fixed(lastLine.losses.loss, 4)}, ${fixed(lastLine.imagesPerSecond, 2)} images/s, ${lastLine.tensors} live tensors.`
        : 'no training steps logged yet.') +
      '</p>',
  );
  if (existsSync(paths.dataReport)) {
    const report = JSON.parse(await readFile(paths.dataReport, 'utf8')) as Record<
      string,
      { skippedImages: number; skippedAnnotations: number; countsByKind: Record<string, number> }
    >;
    const parts = Object.entries(report).map(
      ([split, entry]) =>
        `${split}: skipped ${entry.skippedImages} image(s), ${entry.skippedAnnotations} annotation(s)${
          Object.keys(entry.countsByKind).length
            ? ` (${Object.entries(entry.countsByKind)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')})`
            : ''
        }`,
    );
    sections.push(`<p>Data: ${escapeHtml(parts.join('; '))}</p>`);
  }
  if (evals.length > 0) {
    const names = Object.keys(evals[0]!.metrics);
    sections.push(
      `<h2>Evaluations</h2><table><tr><th>iteration</th>${names.map((name) => `<th>${escapeHtml(name)}</th>`).join('')}</tr>` +
        evals
          .map(
            (entry) =>
              `<tr><td>${entry.iteration}</td>${names.map((name) => `<td>${fixed(entry.metrics[name])}</td>`).join('')}</tr>`,
          )
          .join('') +
        '</table>',
    );
    sections.push(
      `<h3>COCO summary (iteration ${last!.iteration}, ${last!.images} images, ${last!.detections} detections)</h3><pre>${escapeHtml(last!.lines.join('\n'))}</pre>`,
    );
    if (last!.perClass.length > 0) {
      sections.push(
        `<table><tr><th>class</th><th>AP</th><th>AP50</th><th>AP75</th></tr>${last!.perClass
          .map(
            (entry) =>
              `<tr><td>${escapeHtml(entry.name)}</td><td>${fixed(entry.ap)}</td><td>${fixed(entry.ap50)}</td><td>${fixed(entry.ap75)}</td></tr>`,
          )
          .join('')}</table>`,
      );
    }
  }
  for (const table of await readReportTables(directory)) {
    sections.push(
      `<h2>${escapeHtml(table.title)}</h2><table><tr>${table.columns.map((column) => `<th>${escapeHtml(column)}</th>`).join('')}</tr>` +
        table.rows
          .map(
            (row) =>
              `<tr>${row.map((cell) => `<td>${typeof cell === 'number' ? fixed(cell) : escapeHtml(cell)}</td>`).join('')}</tr>`,
          )
          .join('') +
        `</table>${table.note ? `<p>${escapeHtml(table.note)}</p>` : ''}`,
    );
  }
  sections.push(`<h2>Charts</h2>${rendered.join('\n')}`);
  const images: string[] = [];
  const grid = join(paths.plots, 'val-grid.png');
  if (existsSync(grid)) {
    images.push(
      `<h2>Validation images</h2><p>Predictions (score ≥ 0.3) in class colours, ground truth dashed white.</p><img alt="validation grid" src="data:image/png;base64,${(await readFile(grid)).toString('base64')}">`,
    );
  }
  const guided = join(paths.plots, 'guided-anchoring');
  if (existsSync(guided)) {
    // Shape histograms (SVG) first, then the location maps per image and level.
    const files = (await readdir(guided))
      .filter((name) => name.endsWith('.png') || name.endsWith('.svg'))
      .sort(
        (a, b) => Number(a.endsWith('.png')) - Number(b.endsWith('.png')) || a.localeCompare(b),
      );
    if (files.length > 0) {
      images.push('<h2>Guided Anchoring: anchor shapes and location maps</h2>');
      for (const name of files.slice(0, 24)) {
        const type = name.endsWith('.svg') ? 'image/svg+xml' : 'image/png';
        images.push(
          `<figure><img alt="${escapeHtml(name)}" src="data:${type};base64,${(await readFile(join(guided, name))).toString('base64')}"><figcaption>${escapeHtml(name)}</figcaption></figure>`,
        );
      }
    }
  }
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>det run ${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}figure{display:inline-block;margin:0.5em}img{max-width:100%;image-rendering:pixelated}pre{background:#f4f4f4;padding:1em}</style>
</head><body><h1>det run ${escapeHtml(title)}</h1>
${sections.join('\n')}
${images.join('\n')}
</body></html>
`;
  await writeFile(paths.report, html);
  return paths.report;
}
