// End-to-end benchmark: generate (once, into a cache dir) the 5000-image / 500k-detection
// case, then time the CLI as a user runs it (load + evaluate + accumulate + summarize) and
// the library phases in-process. Prints a table. Run with `pnpm --filter @det/coco-eval bench`.
import { execFileSync } from 'node:child_process';
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

// 1. The CLI, in a fresh process: wall time and that process's peak RSS.
const cli = path.join(here, '..', 'bin', 'det-coco-eval.js');
for (let run = 0; run < 3; run++) {
  const started = performance.now();
  const output = execFileSync(process.execPath, [cli, '--gt', gtFile, '--dt', dtFile, '--json', '--verbose'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 26,
  });
  const wall = performance.now() - started;
  rows.push({ what: `CLI end to end, run ${run + 1}`, ms: wall.toFixed(0), note: '' });
  if (run === 0) rows.stats = JSON.parse(output).stats;
}
let verbose = '';
try {
  execFileSync(process.execPath, [cli, '--gt', gtFile, '--dt', dtFile, '--verbose'], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch {}
verbose = execFileSync(process.execPath, [cli, '--gt', gtFile, '--dt', dtFile, '--verbose'], {
  encoding: 'utf8',
  stdio: ['ignore', 'ignore', 'pipe'],
});

// 2. In-process phases.
const t0 = performance.now();
const groundTruth = CocoGroundTruth.fromJson(readFileSync(gtFile, 'utf8'), gtFile);
const detections = loadResultsJson(groundTruth, readFileSync(dtFile, 'utf8'), dtFile);
const t1 = performance.now();
const evaluator = new CocoEvaluator({ groundTruth, detections });
evaluator.evaluate();
const t2 = performance.now();
evaluator.accumulate();
const t3 = performance.now();
const summary = evaluator.summarize();
const t4 = performance.now();
rows.push({ what: 'in-process: parse + load', ms: (t1 - t0).toFixed(0), note: `${detections.count} dets, ${groundTruth.annotations.length} GT` });
rows.push({ what: 'in-process: evaluate', ms: (t2 - t1).toFixed(0), note: '' });
rows.push({ what: 'in-process: accumulate', ms: (t3 - t2).toFixed(0), note: '' });
rows.push({ what: 'in-process: summarize', ms: (t4 - t3).toFixed(0), note: '' });

console.log(`case: ${cacheDir} (gt ${mib(statSync(gtFile).size)}, dt ${mib(statSync(dtFile).size)}); node ${process.version}, ${os.cpus().length} cpus`);
console.log('| what | ms | note |\n| --- | ---: | --- |');
for (const row of rows) console.log(`| ${row.what} | ${row.ms} | ${row.note} |`);
console.log(`\nCLI --verbose: ${verbose.trim()}`);
console.log(`in-process peak RSS: ${mib(process.resourceUsage().maxRSS * 1024)}`);
console.log(`stats: ${JSON.stringify(summary.stats)}`);
if (JSON.stringify(rows.stats) !== JSON.stringify(summary.stats)) throw new Error('CLI and library stats differ');
