import { existsSync } from 'node:fs';
import { appendFile, readdir, readFile } from 'node:fs/promises';
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
