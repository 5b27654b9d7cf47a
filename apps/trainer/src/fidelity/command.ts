import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { CocoResult } from '@det/coco-eval';
import { ensureDefaultDataset } from '@det/data';
import { loadSplit } from '../datasets';
import { evaluateResults } from '../evaluation';
import type { CommandIo } from '../train-command';
import { estimateBudget, hours } from './budget';
import { renderFidelityDocs } from './docs';
import { matrix as defaultMatrix, type Matrix } from './matrix';
import { plotsFolder, tablePlots, writeFidelityPlots } from './plots';
import { readResults } from './results';
import {
  type DataPaths,
  FidelityRunner,
  type PlanEntry,
  planRuns,
  type RunnerIo,
  runDependencies,
  selectPairs,
} from './runner';

export interface FidelityOptions {
  quick?: boolean;
  only?: string;
  budget?: boolean;
  docs?: boolean;
  dryRun?: boolean;
  nice?: number;
  /**
   * Runs at once (default 1). Each child then gets `DET_WASM_THREADS` = cores ÷ jobs (unless
   * set): on 2 cores two 1-thread trainings do more per hour than one 2-thread training, whose
   * second thread only helps XNNPACK's kernels. A fine-tune run waits for the runs it reads.
   */
  jobs?: number;
  /** Run folders (`runs/fidelity`). */
  runs: string;
  /** Committed result JSONs (`docs/fidelity/results`). */
  results: string;
  /** The generated page (`docs/fidelity.md`). */
  out: string;
}

export const regenerateCommands = [
  '# the whole matrix (resumable: finished runs are skipped, killed ones resume); its time: the estimate above',
  'pnpm fidelity',
  '# two runs at once, one wasm thread each (more runs per hour on 2 cores than one run on both)',
  'pnpm fidelity --jobs 2',
  '# the quick subset, one table, some runs in this order, the time estimate, the page alone',
  'pnpm fidelity --quick',
  'pnpm fidelity --only ga-table-1-4',
  'pnpm fidelity --only ga-rpn-l-s0,ga-rpn-s-s0,ga-rpn-ls-s0',
  'pnpm fidelity --budget',
  'pnpm fidelity --docs',
];

function findRepoRoot(start: string): string {
  let folder = resolve(start);
  for (;;) {
    if (existsSync(join(folder, 'pnpm-workspace.yaml'))) return folder;
    const parent = dirname(folder);
    if (parent === folder) return resolve(start);
    folder = parent;
  }
}

/** The real world: child processes (their output appended to a log file), COCO evaluation. */
export function processIo(log: (line: string) => void, env: Record<string, string> = {}): RunnerIo {
  return {
    exec: (argv, logFile) =>
      new Promise((resolvePromise, reject) => {
        // The child writes to the log file itself, so it outlives a killed runner and still
        // checkpoints on its own SIGTERM / SIGINT (a pipe to a dead parent would break it).
        const fd = openSync(logFile, 'a');
        writeSync(fd, `\n$ ${argv.join(' ')}\n`);
        const child = spawn(argv[0]!, argv.slice(1), {
          stdio: ['ignore', fd, fd],
          env: { ...process.env, ...env },
        });
        let settled = false;
        child.on('error', (error) => {
          if (settled) return;
          settled = true;
          closeSync(fd);
          reject(new Error(`${argv[0]}: cannot start (${error.message})`));
        });
        child.on('close', (code, signal) => {
          if (settled) return;
          settled = true;
          writeSync(fd, `exit ${code ?? signal}\n`);
          closeSync(fd);
          resolvePromise(code ?? 130);
        });
      }),
    async evaluateDetections(data: DataPaths | undefined, detectionsFile: string) {
      const split = await loadSplit(
        {
          train: data
            ? { annotationFile: data.trainAnnotations, imageRoot: data.trainImages }
            : 'synthetic',
          val: data
            ? { annotationFile: data.valAnnotations, imageRoot: data.valImages }
            : 'synthetic',
          valImages: 200,
          lenient: false,
        },
        'val',
        200,
      );
      const results = JSON.parse(await readFile(detectionsFile, 'utf8')) as CocoResult[];
      const details = evaluateResults(split, results, { proposals: false, iteration: 0 });
      return { metrics: details.metrics };
    },
    async defaultData() {
      const paths = await ensureDefaultDataset();
      return {
        root: paths.root,
        trainAnnotations: paths.train.annotationFile,
        trainImages: paths.train.imageRoot,
        valAnnotations: paths.val.annotationFile,
        valImages: paths.val.imageRoot,
      };
    },
    log,
    now: () => Date.now(),
  };
}

async function writeDocs(matrix: Matrix, options: FidelityOptions, io: CommandIo): Promise<void> {
  const results = await readResults(options.results);
  await mkdir(dirname(options.out), { recursive: true });
  await writeFile(
    options.out,
    renderFidelityDocs(matrix, results, { commands: regenerateCommands }),
  );
  const plotsDir = join(dirname(options.out), plotsFolder);
  await writeFidelityPlots(
    plotsDir,
    matrix.tables.flatMap((table) => tablePlots(matrix, results, table)),
  );
  io.log(`wrote ${options.out} and its plots in ${plotsDir} (${results.size} results)`);
}

/**
 * `det fidelity`: runs the matrix's cells (or `--quick`'s, or one table's) that have no result
 * yet, copies each finished run's result JSON to `results` and regenerates `out` after each.
 */
export async function fidelityCommand(
  options: FidelityOptions,
  io: CommandIo,
  world: { matrix?: Matrix; runner?: RunnerIo } = {},
): Promise<number> {
  const matrix = world.matrix ?? defaultMatrix;
  if (options.budget) {
    const budget = estimateBudget(matrix, await readResults(options.results));
    for (const cell of budget.cells) {
      io.log(
        `${cell.cell.padEnd(24)} ${cell.done}/${cell.runs} done  ${cell.secondsPerStep.toFixed(2)} s/step${cell.measured ? ' (measured)' : ' (assumed) '}  ${hours(cell.seconds).padStart(7)}`,
      );
    }
    io.log(
      `--quick: ${hours(budget.quick)}; whole matrix: ${hours(budget.total)} on this machine (${hours(budget.remaining)} left; ${hours(budget.spent)} spent by the finished runs)`,
    );
    return 0;
  }
  if (options.docs) {
    await writeDocs(matrix, options, io);
    return 0;
  }
  const pairs = selectPairs(matrix, options);
  const plan = await planRuns({ runsDir: options.runs, resultsDir: options.results }, pairs);
  for (const entry of plan) {
    io.log(
      `${entry.run.padEnd(30)} ${entry.state}${entry.todo.length > 0 ? `  (${entry.todo.join(', ')})` : ''}`,
    );
  }
  if (options.dryRun) return 0;
  const repo = findRepoRoot(process.cwd());
  const jobs = options.jobs ?? 1;
  // Parallel runs share the cores: each child gets its share of wasm threads unless set.
  const childEnv: Record<string, string> =
    jobs > 1 && process.env.DET_WASM_THREADS === undefined
      ? { DET_WASM_THREADS: String(Math.max(1, Math.floor(availableParallelism() / jobs))) }
      : {};
  const runner = new FidelityRunner(
    {
      matrix,
      runsDir: options.runs,
      resultsDir: options.results,
      dataDir: join(options.runs, 'data'),
      det: [process.execPath, process.argv[1] ?? join(repo, 'apps/trainer/dist/cli.js')],
      torch: [
        '/usr/bin/python3',
        join(repo, 'packages/detectors/bench/torch_tiny_retinanet_curve.py'),
      ],
      finetune: [process.execPath, join(repo, 'apps/proposal-finetuner/dist/cli.js')],
      ...(options.nice !== undefined ? { nice: options.nice } : {}),
    },
    world.runner ?? processIo(io.log, childEnv),
  );
  let failed = 0;
  // The page is rewritten after every finished run, one rewrite at a time.
  let docs = Promise.resolve();
  const runEntry = async (entry: PlanEntry) => {
    io.log(`${entry.run}: ${entry.state === 'resume' ? 'resuming' : 'starting'}`);
    try {
      if (await runner.execute(entry)) {
        docs = docs.then(() => writeDocs(matrix, options, io));
        await docs;
      }
    } catch (error) {
      failed += 1;
      io.log(`${entry.run}: failed: ${(error as Error).message}`);
    }
  };
  const waiting = plan.filter((entry) => entry.state !== 'done');
  const unfinished = new Set(waiting.map((entry) => entry.run));
  const running = new Map<string, Promise<void>>();
  while (waiting.length > 0 || running.size > 0) {
    // In plan order, the first runs whose inputs are not still to be made in this call.
    while (running.size < jobs) {
      const index = waiting.findIndex((entry) =>
        runDependencies(entry).every((run) => !unfinished.has(run)),
      );
      if (index < 0) break;
      const [entry] = waiting.splice(index, 1) as [PlanEntry];
      running.set(
        entry.run,
        runEntry(entry).finally(() => {
          unfinished.delete(entry.run);
          running.delete(entry.run);
        }),
      );
    }
    if (running.size === 0) {
      // Only runs whose inputs are missing are left (e.g. a fine-tune whose source failed):
      // each says what it needs.
      for (const entry of waiting.splice(0)) await runEntry(entry);
      break;
    }
    await Promise.race(running.values());
  }
  await docs;
  await writeDocs(matrix, options, io);
  return failed > 0 ? 1 : 0;
}
