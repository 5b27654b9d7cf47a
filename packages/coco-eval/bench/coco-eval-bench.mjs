// End-to-end benchmark: generate (once, into a cache dir) the 5000-image / 500k-detection
// case, then time the CLI as a user runs it (load + evaluate + accumulate + summarize) and
// the library phases in-process, with wall and CPU time (the CI box is shared, so CPU time
// is the steadier number). Prints a markdown table.
// Run: pnpm --filter @det/coco-eval bench   (COCO_EVAL_BENCH_DIR overrides the cache dir;
// COCO_EVAL_REFERENCE=stats.json compares with reference stats, e.g. from
// scripts/fixtures/coco-eval-cases.py GT DT).
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CocoEvaluator, CocoGroundTruth, loadResultsJson } from '../dist/index.js';
import { ensureLargeCase } from './generate-large-case.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cacheDir = process.env.COCO_EVAL_BENCH_DIR ?? path.join(os.tmpdir(), 'det-coco-eval-bench');
const { gtFile, dtFile } = ensureLargeCase(cacheDir);
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const rows = [];

// 1. The CLI in a fresh process, as a user runs it.
const cli = path.join(here, '..', 'bin', 'det-coco-eval.js');
let cliStats;
for (let run = 1; run <= 3; run++) {
  const started = performance.now();
  const child = spawnSync(
    process.execPath,
    [cli, '--gt', gtFile, '--dt', dtFile, '--json', '--verbose'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  const wall = performance.now() - started;
  if (child.status !== 0) throw new Error(`CLI failed: ${child.stderr}`);
  cliStats = JSON.parse(child.stdout).stats;
  rows.push([`CLI end to end, run ${run}`, wall.toFixed(0), '', child.stderr.trim()]);
}

// 2. In-process phases, wall and CPU.
const phase = (name, work) => {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = work();
  const used = process.cpuUsage(cpu);
  rows.push([
    name,
    (performance.now() - started).toFixed(0),
    ((used.user + used.system) / 1000).toFixed(0),
    '',
  ]);
  return value;
};
const { groundTruth, detections } = phase('in-process: read + parse + load', () => {
  const groundTruth = CocoGroundTruth.fromJson(readFileSync(gtFile, 'utf8'), gtFile);
  return {
    groundTruth,
    detections: loadResultsJson(groundTruth, readFileSync(dtFile, 'utf8'), dtFile),
  };
});
const evaluator = new CocoEvaluator({ groundTruth, detections });
phase('in-process: evaluate', () => evaluator.evaluate());
phase('in-process: accumulate', () => evaluator.accumulate());
const summary = phase('in-process: summarize', () => evaluator.summarize());

console.log(
  `case: ${cacheDir} (${groundTruth.imageIds.length} images, ${groundTruth.annotations.length} GT, ${detections.count} detections; ` +
    `gt ${mib(statSync(gtFile).size)}, dt ${mib(statSync(dtFile).size)}); node ${process.version}, ${os.cpus().length} cpus, load average ${os.loadavg()[0].toFixed(1)}`,
);
console.log('| what | wall ms | cpu ms | note |\n| --- | ---: | ---: | --- |');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
console.log(`in-process peak RSS: ${mib(process.resourceUsage().maxRSS * 1024)}`);
console.log(`stats: ${JSON.stringify(summary.stats)}`);
if (JSON.stringify(cliStats) !== JSON.stringify(summary.stats))
  throw new Error('CLI and library stats differ');
if (process.env.COCO_EVAL_REFERENCE) {
  const reference = JSON.parse(readFileSync(process.env.COCO_EVAL_REFERENCE, 'utf8')).stats;
  const same = JSON.stringify(reference) === JSON.stringify(summary.stats);
  console.log(
    `reference stats (${process.env.COCO_EVAL_REFERENCE}): ${same ? 'identical' : `DIFFERENT: ${JSON.stringify(reference)}`}`,
  );
  if (!same) process.exitCode = 1;
}
