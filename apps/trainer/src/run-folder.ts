import { existsSync } from 'node:fs';
import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The files of `runs/<name>/` (Ultralytics' `runs/detect/train*`, mmdetection's `work_dirs`). */
export function runPaths(directory: string) {
  return {
    directory,
    config: join(directory, 'config.json'),
    log: join(directory, 'log.jsonl'),
    metrics: join(directory, 'metrics.csv'),
    checkpoints: join(directory, 'checkpoints'),
    last: join(directory, 'checkpoints', 'last'),
    best: join(directory, 'checkpoints', 'best'),
    evals: join(directory, 'evals'),
    plots: join(directory, 'plots'),
    dataReport: join(directory, 'data-report.json'),
    report: join(directory, 'report.html'),
  };
}
export type RunPaths = ReturnType<typeof runPaths>;

/** `<runs>/<name>`, or `<name>-2`, `-3`, ... when taken and not resuming. */
export function allocateRunDirectory(runsRoot: string, name: string, resume: boolean): string {
  const first = join(runsRoot, name);
  if (resume || !existsSync(first)) return first;
  for (let n = 2; ; n++) {
    const candidate = join(runsRoot, `${name}-${n}`);
    if (!existsSync(candidate)) return candidate;
  }
}

/** One JSON object per line. */
export async function appendJsonLine(file: string, value: unknown): Promise<void> {
  await appendFile(file, `${JSON.stringify(value)}\n`);
}

export async function readJsonLines<T>(file: string): Promise<T[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, 'utf8');
  const rows: T[] = [];
  // A line cut by a kill is skipped rather than failing the report.
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as T);
    } catch {
      // partial last line
    }
  }
  return rows;
}

/** Appends a metrics row, writing the header first for a new file. */
export async function appendMetricsRow(file: string, row: Record<string, number>): Promise<void> {
  const columns = Object.keys(row);
  const header = existsSync(file) ? '' : `${columns.join(',')}\n`;
  await appendFile(file, `${header}${columns.map((column) => row[column]).join(',')}\n`);
}

export async function listJson(directory: string): Promise<string[]> {
  if (!existsSync(directory)) return [];
  return (await readdir(directory))
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => join(directory, name));
}

/**
 * Drops what a killed session logged past its last checkpoint (log lines, metrics rows and
 * evaluations at or after `iteration` steps), so a resumed run's files read as one run.
 */
export async function pruneAfter(paths: RunPaths, iteration: number): Promise<void> {
  if (existsSync(paths.log)) {
    const kept = (await readFile(paths.log, 'utf8')).split('\n').filter((line) => {
      if (!line.trim()) return false;
      try {
        return (JSON.parse(line) as { iteration: number }).iteration < iteration;
      } catch {
        return false; // a line cut by the kill
      }
    });
    await writeFile(paths.log, kept.length > 0 ? `${kept.join('\n')}\n` : '');
  }
  if (existsSync(paths.metrics)) {
    const [header, ...rows] = (await readFile(paths.metrics, 'utf8'))
      .split('\n')
      .filter((line) => line.trim());
    const kept = rows.filter((row) => Number(row.split(',')[0]) <= iteration);
    await writeFile(paths.metrics, `${[header, ...kept].join('\n')}\n`);
  }
  for (const file of await listJson(paths.evals)) {
    const match = /iteration-(\d+)\.json$/.exec(file);
    if (match && Number(match[1]) > iteration) await rm(file);
  }
}

/** A fresh (not resumed) run in an existing folder starts its logs and plots anew. */
export async function clearRunLogs(paths: RunPaths): Promise<void> {
  for (const path of [paths.log, paths.metrics, paths.evals, paths.plots, paths.report])
    await rm(path, { recursive: true, force: true });
}
