import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CocoResult } from '@det/coco-eval';
import {
  buildReport,
  type CommandIo,
  checkpointOf,
  detectorFrom,
  type EvaluationDetails,
  evaluateDetector,
  evaluateResults,
  type LoadedSplit,
  loadModel,
  loadSplit,
  loadSplitProposals,
  type ReportTable,
  type RunConfig,
  runPaths,
  startBackend,
} from '@det/trainer';
import { manifestBeside } from './shards';

export interface CompareOptions {
  runsDir: string;
  /** The trained Faster R-CNN run (own RPN): the "before" row. */
  before: string;
  /** Its RPN's merged val proposals (for the before row's AR), e.g. `…/rpn/val.top300.json`. */
  beforeProposals?: string;
  /** Fine-tune runs as `label=run` (e.g. `GA-RPN=table3/finetune-ga-rpn`), one row each. */
  after: string[];
  /** Also evaluate the untouched checkpoint on each fine-tune's test proposals. */
  untouchedRows?: boolean;
  /** Folder of `table3.json` / `table3.md` (default the first `--after` run, whose report shows it). */
  out?: string;
}

export interface CompareRow {
  label: string;
  /** Proposals trained on → tested with. */
  proposals: string;
  metrics: Record<string, number>;
  /** AR@100/300/1000 of the test proposals (class-agnostic), when known. */
  recall?: Record<string, number> | undefined;
}

const apColumns = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'] as const;
const arColumns = ['AR@100', 'AR@300', 'AR@1000'] as const;

/** Class-agnostic AR@100/300/1000 of the largest merged proposals file beside `file`. */
async function proposalRecall(
  file: string,
  split: LoadedSplit,
): Promise<Record<string, number> | undefined> {
  const manifest = await manifestBeside(file, 'val');
  const tops = manifest ? Object.keys(manifest.files).map(Number) : [];
  const largest = tops.length > 0 ? manifest!.files[Math.max(...tops)]! : file;
  if (!existsSync(largest)) return undefined;
  const proposals = JSON.parse(await readFile(largest, 'utf8')) as CocoResult[];
  const known = new Set(split.dataset.records.map((record) => record.imageId));
  const details = evaluateResults(
    split,
    proposals.filter((entry) => known.has(entry.image_id)),
    { proposals: true, iteration: 0 },
  );
  return Object.fromEntries(arColumns.map((name) => [name, details.metrics[name]!]));
}

/** The run's evaluation at its last checkpoint if it made one, else a fresh one. */
async function finalEvaluation(
  directory: string,
  split: LoadedSplit,
  log: (line: string) => void,
): Promise<{ details: EvaluationDetails; config: RunConfig }> {
  const paths = runPaths(directory);
  const model = await loadModel({
    checkpoint: join(paths.checkpoints, 'last.safetensors'),
    runsDir: '',
  });
  try {
    const saved = join(paths.evals, `iteration-${String(model.iteration).padStart(7, '0')}.json`);
    if (existsSync(saved) && model.config.data.valImages === split.dataset.records.length) {
      return { details: JSON.parse(await readFile(saved, 'utf8')), config: model.config };
    }
    const files = model.config.data.proposals!;
    log(
      `evaluating ${directory} (iteration ${model.iteration}) on ${split.dataset.records.length} val images`,
    );
    const { details } = await evaluateDetector(model.detector, split, {
      proposals: false,
      iteration: model.iteration,
      precomputed: loadSplitProposals(files.val ?? files.train, split, 'the val split', {
        strict: true,
      }),
    });
    return { details, config: model.config };
  } finally {
    model.detector.dispose();
  }
}

/** Rows as a fixed-width text table (what `compare` prints). */
export function formatTable(rows: readonly CompareRow[]): string {
  const header = ['row', 'proposals (train → test)', ...apColumns, ...arColumns];
  const cells = rows.map((row) => [
    row.label,
    row.proposals,
    ...apColumns.map((name) => fixed(row.metrics[name])),
    ...arColumns.map((name) => fixed(row.recall?.[name])),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => line[column]!.length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, column) =>
        column < 2 ? value.padEnd(widths[column]!) : value.padStart(widths[column]!),
      )
      .join('  ');
  return [
    line(header),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...cells.map(line),
  ].join('\n');
}

const fixed = (value: number | undefined) =>
  value === undefined || value < 0 ? '–' : (value * 100).toFixed(1);

/**
 * `det-finetune compare`: Guided Anchoring's Table 3 on the val split — the trained detector
 * with its own RPN (before), each fine-tune on its test proposals (after), optionally the
 * untouched detector on those proposals — AP, AP50, AP75, APs/m/l plus the AR@100/300/1000 of
 * each row's test proposals; printed, and written to `<out>/table3.{json,md}` and the first
 * fine-tune run's report.
 */
export async function compareCommand(
  options: CompareOptions,
  io: CommandIo,
): Promise<CompareRow[]> {
  await startBackend(io.log);
  const afters = options.after.map((entry) => {
    const equals = entry.indexOf('=');
    if (equals <= 0)
      throw new Error(`--after ${entry}: expected label=run (e.g. GA-RPN=finetune-ga-rpn)`);
    return {
      label: entry.slice(0, equals),
      directory: join(options.runsDir, entry.slice(equals + 1)),
    };
  });
  for (const { directory } of afters) {
    if (!existsSync(runPaths(directory).config))
      throw new Error(`${directory}: no such fine-tune run`);
  }
  const before = await loadModel({ run: options.before, runsDir: options.runsDir });
  const rows: CompareRow[] = [];
  let split: LoadedSplit;
  try {
    const firstAfter = JSON.parse(
      await readFile(runPaths(afters[0]!.directory).config, 'utf8'),
    ) as RunConfig;
    split = await loadSplit(before.config.data, 'val', firstAfter.data.valImages);
    io.log(
      `evaluating ${before.checkpoint} (before, own RPN) on ${split.dataset.records.length} val images`,
    );
    const { details } = await evaluateDetector(before.detector, split, {
      proposals: false,
      iteration: before.iteration,
    });
    rows.push({
      label: 'before fine-tune',
      proposals: 'own RPN → own RPN',
      metrics: details.metrics,
      recall: options.beforeProposals
        ? await proposalRecall(options.beforeProposals, split)
        : undefined,
    });
  } finally {
    before.detector.dispose();
  }
  for (const { label, directory } of afters) {
    const { details, config } = await finalEvaluation(directory, split, io.log);
    const files = config.data.proposals!;
    const test = files.val ?? files.train;
    const recall = await proposalRecall(test, split);
    if (options.untouchedRows) {
      // The trained detector, untouched, on these proposals: what the fine-tune adds.
      const detector = await detectorFrom(
        config.detector,
        checkpointOf({ run: options.before, runsDir: options.runsDir }).file,
        () => {},
      );
      try {
        const { details: untouched } = await evaluateDetector(detector, split, {
          proposals: false,
          iteration: 0,
          precomputed: loadSplitProposals(test, split, 'the val split', { strict: true }),
        });
        rows.push({
          label: 'no fine-tune',
          proposals: `own RPN → ${label}`,
          metrics: untouched.metrics,
          recall,
        });
      } finally {
        detector.dispose();
      }
    }
    rows.push({
      label: `fine-tuned`,
      proposals: `${label} → ${label}`,
      metrics: details.metrics,
      recall,
    });
  }
  const text = formatTable(rows);
  io.log(`Table 3 analogue (val, ${split.dataset.records.length} images; AP and AR ×100):`);
  io.log(text);
  const out = options.out ?? afters[0]!.directory;
  const table: ReportTable = {
    title: 'Fine-tuning on precomputed proposals (Guided Anchoring Table 3 layout)',
    columns: ['row', 'proposals (train → test)', ...apColumns, ...arColumns],
    rows: rows.map((row) => [
      row.label,
      row.proposals,
      ...apColumns.map((name) => row.metrics[name] ?? -1),
      ...arColumns.map((name) => row.recall?.[name] ?? -1),
    ]),
    note: `val split, ${split.dataset.records.length} images; AR: class-agnostic recall of each row's test proposals`,
  };
  await mkdir(join(out, 'tables'), { recursive: true });
  await writeFile(join(out, 'tables', 'table3.json'), `${JSON.stringify(table, null, 2)}\n`);
  await writeFile(join(out, 'table3.md'), `${text}\n`);
  await writeFile(join(out, 'table3.rows.json'), `${JSON.stringify(rows, null, 2)}\n`);
  if (existsSync(runPaths(out).config)) io.log(`report: ${await buildReport(out)}`);
  io.log(`table: ${join(out, 'table3.md')}`);
  return rows;
}
