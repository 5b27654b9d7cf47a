import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { CellSpec, DataVariant, EvalSpec, Matrix } from './matrix';
import { scheduleOverrides } from './matrix';
import {
  type EvalResult,
  type FidelityResult,
  fingerprintOf,
  readResult,
  runName,
} from './results';

/** What the runner does to the world, injectable for tests. */
export interface RunnerIo {
  /** Runs `argv` (program first) with its output appended to `logFile`; resolves to the exit code. */
  exec(argv: readonly string[], logFile: string): Promise<number>;
  /** COCO evaluation of a detections file (torchvision cells) on a data variant's val split. */
  evaluateDetections(data: DataPaths | undefined, detectionsFile: string): Promise<EvalResult>;
  /** The default data set's files (for scripts that need them). */
  defaultData(): Promise<DataPaths>;
  log(line: string): void;
  /** Milliseconds (wall clock). */
  now(): number;
}

export interface DataPaths {
  root: string;
  trainAnnotations: string;
  trainImages: string;
  valAnnotations: string;
  valImages: string;
}

export interface RunnerOptions {
  matrix: Matrix;
  /** `runs/fidelity`: run folders (not committed). */
  runsDir: string;
  /** `docs/fidelity/results`: one committed JSON per finished run. */
  resultsDir: string;
  /** Where generated data variants live. */
  dataDir: string;
  /** How to call `det` (e.g. `[node, apps/trainer/dist/cli.js]`). */
  det: readonly string[];
  /** How to call a torchvision script (e.g. `[/usr/bin/python3, bench/torch_….py]`). */
  torch: readonly string[];
  /** How to call `det-finetune` (e.g. `[node, apps/proposal-finetuner/dist/cli.js]`). */
  finetune: readonly string[];
  /** `nice -n N` in front of every training and evaluation. */
  nice?: number;
}

export type RunState = 'done' | 'stale' | 'resume' | 'new';

export interface PlanEntry {
  cell: CellSpec;
  seed: number;
  run: string;
  state: RunState;
  /** What is left: `train`, then the evaluations not yet written. */
  todo: string[];
}

/** The runs a run reads (a fine-tune: its detector's and its proposal network's), besides data. */
export function runDependencies(entry: Pick<PlanEntry, 'cell' | 'seed'>): string[] {
  const spec = entry.cell.finetune;
  if (entry.cell.runner !== 'finetune' || !spec) return [];
  return [
    ...new Set([runName(entry.cell.preset, entry.seed), runName(spec.proposals, entry.seed)]),
  ];
}

/** The iteration of a run's last checkpoint (0 without one). */
export async function lastCheckpointIteration(runDir: string): Promise<number> {
  const sidecar = join(runDir, 'checkpoints', 'last.json');
  if (!existsSync(sidecar)) return 0;
  try {
    const json = JSON.parse(await readFile(sidecar, 'utf8')) as { state?: { iteration?: number } };
    return json.state?.iteration ?? 0;
  } catch {
    return 0; // cut by a kill: training resumes and rewrites it
  }
}

/** The live process holding a run's lock file, if any (a dead holder's lock is stale). */
export async function lockHolder(lock: string): Promise<number | undefined> {
  if (!existsSync(lock)) return undefined;
  const pid = Number(await readFile(lock, 'utf8'));
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

const evalFile = (runDir: string, id: string) => join(runDir, 'fidelity', `${id}.json`);

/**
 * The (cell, seed) pairs of the matrix (all, or `--quick`'s), narrowed by `--only`: a
 * comma-separated list of table ids (their cells), cell ids (their seeds) and run names
 * (`<cell>-s<seed>`), run in the order listed.
 */
export function selectPairs(
  matrix: Matrix,
  options: { quick?: boolean; only?: string },
): { cell: CellSpec; seed: number }[] {
  const byId = new Map(matrix.cells.map((cell) => [cell.id, cell]));
  const pairs = options.quick
    ? matrix.quick.map(({ cell, seed }) => {
        const spec = byId.get(cell);
        if (!spec) throw new Error(`matrix.quick: unknown cell '${cell}'`);
        return { cell: spec, seed };
      })
    : matrix.cells.flatMap((cell) => cell.seeds.map((seed) => ({ cell, seed })));
  if (options.only === undefined) return pairs;
  const selected: { cell: CellSpec; seed: number }[] = [];
  const add = (keep: (pair: { cell: CellSpec; seed: number }) => boolean) => {
    for (const pair of pairs) if (keep(pair) && !selected.includes(pair)) selected.push(pair);
  };
  for (const item of options.only.split(',').map((part) => part.trim())) {
    const table = matrix.tables.find((t) => t.id === item);
    if (table) {
      const cells = new Set(table.rows.flatMap((row) => (row.cell ? [row.cell] : [])));
      add((pair) => cells.has(pair.cell.id));
    } else if (byId.has(item)) {
      add((pair) => pair.cell.id === item);
    } else if (pairs.some((pair) => runName(pair.cell.id, pair.seed) === item)) {
      add((pair) => runName(pair.cell.id, pair.seed) === item);
    } else {
      throw new Error(
        `--only ${item}: no such table, cell or run (tables: ${matrix.tables.map((t) => t.id).join(', ')}; cells: ${[...byId.keys()].join(', ')}; runs: <cell>-s<seed>)`,
      );
    }
  }
  return selected;
}

/** What each run needs: `done` runs (a result with the cell's fingerprint) are skipped. */
export async function planRuns(
  options: Pick<RunnerOptions, 'runsDir' | 'resultsDir'>,
  pairs: readonly { cell: CellSpec; seed: number }[],
): Promise<PlanEntry[]> {
  const plan: PlanEntry[] = [];
  for (const { cell, seed } of pairs) {
    const run = runName(cell.id, seed);
    const result = await readResult(join(options.resultsDir, `${run}.json`));
    if (result) {
      const state = result.fingerprint === fingerprintOf(cell, seed) ? 'done' : 'stale';
      plan.push({ cell, seed, run, state, todo: [] });
      continue;
    }
    const runDir = join(options.runsDir, run);
    const todo: string[] = [];
    const trained = existsSync(evalFile(runDir, 'main'));
    if (!trained) todo.push('train');
    for (const spec of cell.evals) if (!existsSync(evalFile(runDir, spec.id))) todo.push(spec.id);
    const started = existsSync(runDir) && (trained || (await lastCheckpointIteration(runDir)) > 0);
    plan.push({ cell, seed, run, state: started ? 'resume' : 'new', todo });
  }
  return plan;
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** Seconds of training over all sessions: the last `log.jsonl` line's `seconds`. */
async function trainSecondsOf(runDir: string): Promise<number> {
  const log = join(runDir, 'log.jsonl');
  if (!existsSync(log)) return 0;
  const lines = (await readFile(log, 'utf8')).split('\n').filter((line) => line.trim());
  for (const line of lines.reverse()) {
    try {
      return (JSON.parse(line) as { seconds: number }).seconds;
    } catch {
      // a line cut by a kill
    }
  }
  return 0;
}

/** Runs the matrix entries in order; a failed run is reported and the others go on. */
export class FidelityRunner {
  constructor(
    private readonly options: RunnerOptions,
    private readonly io: RunnerIo,
  ) {}

  private wrap(argv: readonly string[]): string[] {
    return this.options.nice !== undefined
      ? ['nice', '-n', String(this.options.nice), ...argv]
      : [...argv];
  }

  private async step(argv: readonly string[], logFile: string, what: string): Promise<void> {
    this.io.log(`  $ ${argv.join(' ')}`);
    const code = await this.io.exec(this.wrap(argv), logFile);
    if (code !== 0) throw new Error(`${what} exited with ${code} (see ${logFile})`);
  }

  private readonly dataVariants = new Map<string, Promise<DataPaths | undefined>>();

  /** The files of a data variant, generated with `det synth` the first time (once per variant). */
  dataPaths(variant: DataVariant): Promise<DataPaths | undefined> {
    let paths = this.dataVariants.get(variant.id);
    if (!paths) {
      paths = this.makeDataPaths(variant);
      // A failed generation is retried by the next run that needs it.
      paths.catch(() => this.dataVariants.delete(variant.id));
      this.dataVariants.set(variant.id, paths);
    }
    return paths;
  }

  private async makeDataPaths(variant: DataVariant): Promise<DataPaths | undefined> {
    if (!variant.synth) return undefined;
    const root = join(this.options.dataDir, variant.id);
    const paths: DataPaths = {
      root,
      trainAnnotations: join(root, 'annotations', 'instances_train.json'),
      trainImages: join(root, 'train'),
      valAnnotations: join(root, 'annotations', 'instances_val.json'),
      valImages: join(root, 'val'),
    };
    if (!existsSync(join(root, 'manifest.json'))) {
      await mkdir(this.options.dataDir, { recursive: true });
      this.io.log(`data variant '${variant.id}': ${variant.description}`);
      await this.step(
        [...this.options.det, 'synth', '--out', root, ...variant.synth],
        join(this.options.dataDir, `${variant.id}.log`),
        `det synth (${variant.id})`,
      );
    }
    return paths;
  }

  private variant(cell: CellSpec): DataVariant {
    const variant = this.options.matrix.data.find((d) => d.id === cell.data);
    if (!variant) throw new Error(`cell ${cell.id}: unknown data variant '${cell.data}'`);
    return variant;
  }

  /** Trains (or resumes) and evaluates one run, then writes and copies its result. */
  async execute(entry: PlanEntry): Promise<FidelityResult | undefined> {
    if (entry.state === 'done') return undefined;
    if (entry.state === 'stale') {
      this.io.log(
        `${entry.run}: stale (the cell changed since its result): delete ${join(this.options.resultsDir, `${entry.run}.json`)} and ${join(this.options.runsDir, entry.run)} to rerun`,
      );
      return undefined;
    }
    const { run } = entry;
    const runDir = join(this.options.runsDir, run);
    await mkdir(join(runDir, 'fidelity'), { recursive: true });
    // Another `det fidelity` may have finished or be running this run since the plan was made.
    if (await readResult(join(this.options.resultsDir, `${run}.json`))) return undefined;
    const lock = join(runDir, 'fidelity', 'lock');
    const holder = await lockHolder(lock);
    if (holder !== undefined) {
      this.io.log(`${run}: skipped, in progress in process ${holder} (${lock})`);
      return undefined;
    }
    await writeFile(lock, String(process.pid));
    try {
      return await this.executeLocked(entry, runDir);
    } finally {
      await rm(lock, { force: true });
    }
  }

  private async executeLocked(entry: PlanEntry, runDir: string): Promise<FidelityResult> {
    const { cell, seed, run } = entry;
    const logFile = join(runDir, 'fidelity', 'commands.log');
    const data = await this.dataPaths(this.variant(cell));
    const started = this.io.now();
    let trainSeconds: number;
    if (cell.runner === 'det') {
      trainSeconds = await this.trainDet(cell, seed, runDir, data, logFile);
    } else if (cell.runner === 'finetune') {
      trainSeconds = await this.fineTune(cell, seed, runDir, logFile);
    } else {
      trainSeconds = await this.trainTorch(cell, seed, runDir, data, logFile);
    }
    const evalStarted = this.io.now();
    const evals: Record<string, EvalResult> = { main: await readJson(evalFile(runDir, 'main')) };
    for (const spec of cell.evals) evals[spec.id] = await this.evaluate(spec, runDir, logFile);
    const evalSeconds = (this.io.now() - evalStarted) / 1000;
    const iterations = cell.runner === 'torch' ? cell.steps : await lastCheckpointIteration(runDir);
    const result: FidelityResult = {
      format: 'det-fidelity-result',
      version: 1,
      run,
      cell: cell.id,
      seed,
      fingerprint: fingerprintOf(cell, seed),
      runner: cell.runner,
      preset: cell.preset,
      set: cell.set,
      data: cell.data,
      steps: cell.steps,
      iterations,
      trainSeconds: Number(trainSeconds.toFixed(1)),
      secondsPerStep: Number((trainSeconds / Math.max(1, iterations)).toFixed(4)),
      evalSeconds: Number(evalSeconds.toFixed(1)),
      evals: Object.fromEntries(Object.entries(evals).map(([id, value]) => [id, pickEval(value)])),
      finishedAt: new Date(this.io.now()).toISOString(),
      host: `${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(1)} (shared machine)`,
    };
    const file = join(runDir, 'fidelity', 'result.json');
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    await mkdir(this.options.resultsDir, { recursive: true });
    await copyFile(file, join(this.options.resultsDir, `${run}.json`));
    this.io.log(
      `${run}: done in ${((this.io.now() - started) / 1000).toFixed(0)} s → ${join(this.options.resultsDir, `${run}.json`)}`,
    );
    return result;
  }

  private async trainDet(
    cell: CellSpec,
    seed: number,
    runDir: string,
    data: DataPaths | undefined,
    logFile: string,
  ): Promise<number> {
    const main = evalFile(runDir, 'main');
    if (!existsSync(main)) {
      if ((await lastCheckpointIteration(runDir)) < cell.steps) {
        const dataArgs = data
          ? [
              '--annotations',
              data.trainAnnotations,
              '--images',
              data.trainImages,
              '--val-annotations',
              data.valAnnotations,
              '--val-images',
              data.valImages,
            ]
          : [];
        await this.step(
          [
            ...this.options.det,
            '--runs-dir',
            this.options.runsDir,
            'train',
            '--preset',
            cell.preset,
            '--name',
            runName(cell.id, seed),
            '--resume',
            ...[...scheduleOverrides(cell.steps), `train.seed=${seed}`, ...cell.set].flatMap(
              (setting) => ['--set', setting],
            ),
            ...dataArgs,
          ],
          logFile,
          `det train (${runName(cell.id, seed)})`,
        );
        const reached = await lastCheckpointIteration(runDir);
        if (reached < cell.steps)
          throw new Error(`${runDir}: training stopped at ${reached} of ${cell.steps} steps`);
      }
      // The run's own end-of-training evaluation, else evaluate the last checkpoint.
      const own = join(runDir, 'evals', `iteration-${String(cell.steps).padStart(7, '0')}.json`);
      if (existsSync(own)) await copyFile(own, main);
      else await this.detEval(runDir, [], {}, main, logFile);
    }
    return trainSecondsOf(runDir);
  }

  /**
   * GA Table 3: `det-finetune proposals` of the source cell's run (train: the first
   * `trainImages`, val: all) into its `proposals/` folder, then `det-finetune finetune` of the
   * detector cell's run on them into this run; its end-of-training evaluation is `main`.
   * Returns the fine-tune's training seconds plus the proposals' wall clock.
   */
  private async fineTune(
    cell: CellSpec,
    seed: number,
    runDir: string,
    logFile: string,
  ): Promise<number> {
    const spec = cell.finetune;
    if (!spec) throw new Error(`cell ${cell.id}: runner 'finetune' needs \`finetune\``);
    const detector = runName(cell.preset, seed);
    const source = runName(spec.proposals, seed);
    for (const needed of runDependencies({ cell, seed })) {
      const checkpoint = join(this.options.runsDir, needed, 'checkpoints', 'last.safetensors');
      if (
        !(await readResult(join(this.options.resultsDir, `${needed}.json`))) ||
        !existsSync(checkpoint)
      ) {
        throw new Error(
          `${runName(cell.id, seed)} needs the finished run ${needed} (its result and ${checkpoint}): run it first (det fidelity --only ${needed})`,
        );
      }
    }
    const main = evalFile(runDir, 'main');
    const timing = join(runDir, 'fidelity', 'proposal-seconds.json');
    const finetune = [...this.options.finetune, '--runs-dir', this.options.runsDir];
    const proposals = join(this.options.runsDir, source, 'proposals');
    const file = (split: string) => join(proposals, `${split}.top${spec.top}.json`);
    if (!existsSync(main)) {
      const started = this.io.now();
      for (const split of ['train', 'val']) {
        if (existsSync(file(split))) continue;
        await this.step(
          [
            ...finetune,
            'proposals',
            '--run',
            source,
            '--split',
            split,
            ...(split === 'train' ? ['--limit', String(spec.trainImages)] : []),
            '--top',
            String(spec.top),
            '--out',
            proposals,
          ],
          logFile,
          `det-finetune proposals (${source}, ${split})`,
        );
      }
      const previous = existsSync(timing)
        ? (await readJson<{ seconds: number }>(timing)).seconds
        : 0;
      await writeFile(
        timing,
        JSON.stringify({ seconds: previous + (this.io.now() - started) / 1000 }),
      );
      if ((await lastCheckpointIteration(runDir)) < cell.steps) {
        await this.step(
          [
            ...finetune,
            'finetune',
            '--run',
            detector,
            '--proposals',
            file('train'),
            '--val-proposals',
            file('val'),
            '--name',
            runName(cell.id, seed),
            ...cell.set,
          ],
          logFile,
          `det-finetune finetune (${runName(cell.id, seed)})`,
        );
      }
      const reached = await lastCheckpointIteration(runDir);
      if (reached !== cell.steps) {
        throw new Error(
          `${runDir}: the fine-tune stopped at ${reached} iterations, the cell expects ${cell.steps}`,
        );
      }
      const own = join(runDir, 'evals', `iteration-${String(reached).padStart(7, '0')}.json`);
      if (!existsSync(own)) throw new Error(`${runDir}: no final evaluation (${own})`);
      await copyFile(own, main);
    }
    const proposalSeconds = existsSync(timing)
      ? (await readJson<{ seconds: number }>(timing)).seconds
      : 0;
    return (await trainSecondsOf(runDir)) + proposalSeconds;
  }

  private async trainTorch(
    cell: CellSpec,
    seed: number,
    runDir: string,
    data: DataPaths | undefined,
    logFile: string,
  ): Promise<number> {
    const main = evalFile(runDir, 'main');
    const timing = join(runDir, 'fidelity', 'train-seconds.json');
    if (!existsSync(main)) {
      const paths = data ?? (await this.io.defaultData());
      const prefix = join(runDir, 'torch');
      const detections = `${prefix}-val-${cell.steps}.json`;
      if (!existsSync(detections)) {
        const started = this.io.now();
        await this.step(
          [
            ...this.options.torch,
            '--arch',
            cell.preset,
            '--root',
            paths.root,
            '--steps',
            String(cell.steps),
            '--evals',
            String(cell.steps),
            '--seed',
            String(seed),
            '--out',
            prefix,
            ...cell.set,
          ],
          logFile,
          `torchvision ${cell.preset} (${runName(cell.id, seed)})`,
        );
        await writeFile(timing, JSON.stringify({ seconds: (this.io.now() - started) / 1000 }));
      }
      const evaluation = await this.io.evaluateDetections(data, detections);
      await writeFile(main, `${JSON.stringify(evaluation)}\n`);
    }
    return existsSync(timing) ? (await readJson<{ seconds: number }>(timing)).seconds : 0;
  }

  private async detEval(
    runDir: string,
    settings: readonly string[],
    flags: Pick<EvalSpec, 'countAnchors' | 'timeHead'>,
    out: string,
    logFile: string,
  ): Promise<void> {
    await this.step(
      [
        ...this.options.det,
        'eval',
        '--checkpoint',
        join(runDir, 'checkpoints', 'last.safetensors'),
        '--out',
        out,
        ...(flags.countAnchors ? ['--count-anchors'] : []),
        ...(flags.timeHead ? ['--time-head'] : []),
        ...settings.flatMap((setting) => ['--set', setting]),
      ],
      logFile,
      `det eval (${out})`,
    );
  }

  private async evaluate(spec: EvalSpec, runDir: string, logFile: string): Promise<EvalResult> {
    const out = evalFile(runDir, spec.id);
    let anchors: unknown[] | undefined;
    const settings = [...(spec.set ?? [])];
    if (spec.searchAnchors) {
      const chosen = join(runDir, 'fidelity', `${spec.id}-anchors.json`);
      if (!existsSync(chosen)) {
        await this.step(
          [
            ...this.options.det,
            'search-anchors',
            '--checkpoint',
            join(runDir, 'checkpoints', 'last.safetensors'),
            '--steps',
            String(spec.searchAnchors.steps),
            '--limit',
            String(spec.searchAnchors.limit),
            '--out',
            chosen,
          ],
          logFile,
          `det search-anchors (${runDir})`,
        );
      }
      anchors = (await readJson<{ anchors: unknown[] }>(chosen)).anchors;
      settings.push(`head.anchorScheme.inferenceAnchors=${JSON.stringify(anchors)}`);
    }
    if (!existsSync(out)) await this.detEval(runDir, settings, spec, out, logFile);
    const result = pickEval(await readJson(out));
    return anchors ? { ...result, anchors } : result;
  }
}

/** The numbers of an evaluation file (det eval's details or a torch evaluation). */
function pickEval(value: unknown): EvalResult {
  const details = value as Partial<EvalResult> & { anchors?: unknown[] };
  return {
    metrics: details.metrics ?? {},
    ...(details.anchorsPerImage !== undefined ? { anchorsPerImage: details.anchorsPerImage } : {}),
    ...(details.anchors !== undefined ? { anchors: details.anchors } : {}),
    ...(details.headTiming
      ? {
          headTiming: {
            clock: details.headTiming.clock,
            batches: details.headTiming.batches,
            maskedMs: details.headTiming.maskedMs,
            denseMs: details.headTiming.denseMs,
          },
        }
      : {}),
  };
}
