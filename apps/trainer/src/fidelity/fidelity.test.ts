import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { estimateBudget } from './budget';
import { fidelityCommand, processIo } from './command';
import { judgeClaim, renderFidelityDocs } from './docs';
import { type CellSpec, matrix as fullMatrix, type Matrix } from './matrix';
import { type FidelityResult, fingerprintOf, readResults } from './results';
import { planRuns, type RunnerIo, selectPairs } from './runner';
import { testCell, testResult } from './testing';

const cell = testCell;

const fixture: Matrix = {
  data: [{ id: 'default', description: 'default' }],
  cells: [
    cell('a', { evals: [{ id: 'eps', set: ['head.anchorScheme.locationThreshold=0.1'] }] }),
    cell('b'),
  ],
  tables: [
    {
      id: 't',
      paper: 'Guided Anchoring',
      title: 'T',
      note: 'note',
      metrics: [
        { key: 'AR@100', label: 'AR100', scale: 100, digits: 1 },
        { key: 'anchorsPerImage', label: 'anchors/img', scale: 1, digits: 0 },
      ],
      rows: [
        { label: 'A', cell: 'a', paper: [59.2, 22274] },
        { label: 'B', cell: 'b', paper: [47.5, null] },
        { label: 'C', paper: [1, null], note: 'no switch' },
      ],
    },
  ],
  claims: [
    {
      paper: 'Guided Anchoring',
      table: 't',
      text: 'A beats B',
      metric: 'AR@100',
      better: 'A',
      worse: 'B',
    },
  ],
  quick: [{ cell: 'a', seed: 0 }],
  assumedStepSeconds: { a: 2, b: 3 },
  assumedEvalSeconds: 10,
};

const result = (
  cellSpec: CellSpec,
  seed: number,
  ar: number,
  extra: Partial<FidelityResult> = {},
): FidelityResult =>
  testResult(
    cellSpec,
    seed,
    { main: { metrics: { 'AR@100': ar }, anchorsPerImage: 100 + seed } },
    extra,
  );

let root: string;
const silent = { log: () => {}, interactive: false };

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'det-fidelity-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * A fake `det`: train writes a checkpoint sidecar at `stopAt` (default maxIters) and the eval
 * file; a fake `det-finetune`: proposals writes the merged file, finetune trains `fineTuneIters`.
 */
function fakeWorld(options: { stopAt?: number; fineTuneIters?: number } = {}) {
  const calls: string[][] = [];
  const io: RunnerIo = {
    async exec(argv) {
      calls.push([...argv]);
      const value = (flag: string) => argv[argv.indexOf(flag) + 1]!;
      if (argv.includes('proposals')) {
        await mkdir(value('--out'), { recursive: true });
        await writeFile(
          join(value('--out'), `${value('--split')}.top${value('--top')}.json`),
          '[]',
        );
        return 0;
      }
      if (argv.includes('train') || argv.includes('finetune')) {
        const runDir = join(value('--runs-dir'), value('--name'));
        const maxIters = argv.includes('finetune')
          ? (options.fineTuneIters ?? 12)
          : Number(argv.find((a) => a.startsWith('train.maxIters='))!.split('=')[1]);
        const reached = options.stopAt ?? maxIters;
        await mkdir(join(runDir, 'checkpoints'), { recursive: true });
        await writeFile(
          join(runDir, 'checkpoints', 'last.json'),
          JSON.stringify({ state: { iteration: reached } }),
        );
        await writeFile(join(runDir, 'checkpoints', 'last.safetensors'), '');
        await writeFile(
          join(runDir, 'log.jsonl'),
          `${JSON.stringify({ iteration: reached, seconds: reached * 0.25 })}\n`,
        );
        if (reached === maxIters) {
          await mkdir(join(runDir, 'evals'), { recursive: true });
          await writeFile(
            join(runDir, 'evals', `iteration-${String(reached).padStart(7, '0')}.json`),
            JSON.stringify({ metrics: { 'AR@100': 0.3 } }),
          );
        }
        return 0;
      }
      if (argv.includes('eval')) {
        const headTiming = argv.includes('--time-head')
          ? { headTiming: { clock: 'cpu', batches: 10, images: 40, maskedMs: 2, denseMs: 5 } }
          : {};
        await writeFile(
          value('--out'),
          JSON.stringify({
            metrics: { 'AR@100': 0.25 },
            anchorsPerImage: 42,
            lines: [],
            ...headTiming,
          }),
        );
        return 0;
      }
      return 1;
    },
    evaluateDetections: async () => ({ metrics: {} }),
    defaultData: async () => {
      throw new Error('not used');
    },
    log: () => {},
    now: () => 0,
  };
  return { io, calls };
}

const commandOptions = () => ({
  runs: join(root, 'runs'),
  results: join(root, 'results'),
  out: join(root, 'fidelity.md'),
});

describe('det fidelity runner', () => {
  it('trains new runs with --resume and the schedule, evaluates, commits a result, then skips them', async () => {
    const { io, calls } = fakeWorld();
    expect(
      await fidelityCommand({ ...commandOptions(), quick: true }, silent, {
        matrix: fixture,
        runner: io,
      }),
    ).toBe(0);
    const trains = calls.filter((argv) => argv.includes('train'));
    expect(trains).toHaveLength(1);
    expect(trains[0]).toEqual(
      expect.arrayContaining([
        '--resume',
        '--name',
        'a-s0',
        'train.maxIters=20',
        'train.steps=[16]',
        'train.seed=0',
      ]),
    );
    const evals = calls.filter((argv) => argv.includes('eval'));
    expect(evals).toHaveLength(1); // main came from the run's own evaluation
    expect(evals[0]).toEqual(
      expect.arrayContaining(['--set', 'head.anchorScheme.locationThreshold=0.1']),
    );
    const saved = (await readResults(join(root, 'results'))).get('a-s0')!;
    expect(saved.evals.main!.metrics['AR@100']).toBe(0.3);
    expect(saved.evals.eps).toEqual({ metrics: { 'AR@100': 0.25 }, anchorsPerImage: 42 });
    expect(saved.trainSeconds).toBe(5);
    expect(saved.secondsPerStep).toBe(0.25);
    expect(await readFile(join(root, 'fidelity.md'), 'utf8')).toContain('30.0 (1 seed)');
    // A second invocation finds the result and runs nothing.
    calls.length = 0;
    await fidelityCommand({ ...commandOptions(), quick: true }, silent, {
      matrix: fixture,
      runner: io,
    });
    expect(calls).toEqual([]);
  });

  it('a --time-head evaluation passes the flag and its head times fill the time columns', async () => {
    const { io, calls } = fakeWorld();
    const [table] = fixture.tables;
    const timed: Matrix = {
      ...fixture,
      cells: [cell('a', { evals: [{ id: 'eps', countAnchors: true, timeHead: true }] }), cell('b')],
      tables: [
        {
          ...table!,
          metrics: [
            { key: 'AR@100', label: 'AR100', scale: 100, digits: 1 },
            { key: 'headMaskedMs', label: 'masked ms', scale: 1, digits: 1 },
            { key: 'headSpeedup', label: 'dense / masked', scale: 1, digits: 2 },
            { key: 'AP', label: 'AP', scale: 100, digits: 1 },
          ],
          rows: [
            { label: 'A', cell: 'a', eval: 'eps', paper: [59.2, null, null, null] },
            { label: 'B', cell: 'b', paper: [null, null, null, null] },
          ],
        },
      ],
      claims: [],
    };
    await fidelityCommand({ ...commandOptions(), quick: true }, silent, {
      matrix: timed,
      runner: io,
    });
    const evals = calls.filter((argv) => argv.includes('eval'));
    expect(evals).toHaveLength(1);
    expect(evals[0]).toEqual(expect.arrayContaining(['--count-anchors', '--time-head']));
    const saved = (await readResults(join(root, 'results'))).get('a-s0')!;
    expect(saved.evals.eps!.headTiming).toEqual({
      clock: 'cpu',
      batches: 10,
      maskedMs: 2,
      denseMs: 5,
    });
    const page = await readFile(join(root, 'fidelity.md'), 'utf8');
    // A paper column only beside the metric the paper reports.
    expect(page).toContain('|  | AR100 | paper | masked ms | dense / masked | AP | seeds |');
    // A finished run without a metric: not applicable (—); a cell without runs: pending.
    expect(page).toContain('| A | 25.0 (1 seed) | 59.2 | 2.0 (1 seed) | 2.50 (1 seed) | — | 1/2 |');
    expect(page).toContain('| B | pending | — | pending | pending | pending | 0/2 |');
  });

  it('resumes a killed run: finished steps are not redone, a missing evaluation is', async () => {
    const { io, calls } = fakeWorld();
    const runDir = join(root, 'runs', 'a-s0');
    await mkdir(join(runDir, 'fidelity'), { recursive: true });
    await writeFile(
      join(runDir, 'fidelity', 'main.json'),
      JSON.stringify({ metrics: { 'AR@100': 0.3 } }),
    );
    const [entry] = await planRuns(
      { runsDir: join(root, 'runs'), resultsDir: join(root, 'results') },
      selectPairs(fixture, { quick: true }),
    );
    expect(entry).toMatchObject({ run: 'a-s0', state: 'resume', todo: ['eps'] });
    await fidelityCommand({ ...commandOptions(), quick: true }, silent, {
      matrix: fixture,
      runner: io,
    });
    expect(calls.map((argv) => (argv.includes('train') ? 'train' : 'eval'))).toEqual(['eval']);
    expect(existsSync(join(root, 'results', 'a-s0.json'))).toBe(true);
  });

  it('a run with a checkpoint short of maxIters resumes, and one that stops short fails without a result', async () => {
    const { io } = fakeWorld({ stopAt: 10 });
    const runDir = join(root, 'runs', 'a-s0');
    await mkdir(join(runDir, 'checkpoints'), { recursive: true });
    await writeFile(
      join(runDir, 'checkpoints', 'last.json'),
      JSON.stringify({ state: { iteration: 5 } }),
    );
    const [entry] = await planRuns(
      { runsDir: join(root, 'runs'), resultsDir: join(root, 'results') },
      selectPairs(fixture, { quick: true }),
    );
    expect(entry).toMatchObject({ state: 'resume', todo: ['train', 'eps'] });
    const lines: string[] = [];
    const code = await fidelityCommand(
      { ...commandOptions(), quick: true },
      { log: (line) => lines.push(line), interactive: false },
      { matrix: fixture, runner: io },
    );
    expect(code).toBe(1);
    expect(lines.join('\n')).toMatch(/a-s0: failed: .*training stopped at 10 of 20 steps/);
    expect(existsSync(join(root, 'results', 'a-s0.json'))).toBe(false);
  });

  it("skips a run another live det fidelity holds the lock of, and takes over a dead holder's", async () => {
    const { io, calls } = fakeWorld();
    const lock = join(root, 'runs', 'a-s0', 'fidelity', 'lock');
    await mkdir(dirname(lock), { recursive: true });
    await writeFile(lock, String(process.pid));
    await fidelityCommand({ ...commandOptions(), quick: true }, silent, {
      matrix: fixture,
      runner: io,
    });
    expect(calls).toEqual([]);
    await writeFile(lock, '999999999');
    await fidelityCommand({ ...commandOptions(), quick: true }, silent, {
      matrix: fixture,
      runner: io,
    });
    expect(calls.length).toBe(2);
    expect(existsSync(lock)).toBe(false);
  });

  it('marks a result of a changed cell stale and does not rerun it; --only picks one table', async () => {
    const changed = { ...fixture.cells[0]!, steps: 40 };
    await mkdir(join(root, 'results'), { recursive: true });
    await writeFile(join(root, 'results', 'a-s0.json'), JSON.stringify(result(changed, 0, 0.5)));
    const plan = await planRuns(
      { runsDir: join(root, 'runs'), resultsDir: join(root, 'results') },
      selectPairs(fixture, { only: 't' }),
    );
    expect(plan.map((entry) => `${entry.run}:${entry.state}`)).toEqual([
      'a-s0:stale',
      'a-s1:new',
      'b-s0:new',
      'b-s1:new',
    ]);
    expect(() => selectPairs(fixture, { only: 'nope' })).toThrow(
      /--only nope: no such table, cell or run \(tables: t; cells: a, b;/,
    );
    // Runs and cells, in the order listed, each pair once.
    const listed = selectPairs(fixture, { only: 'b-s1, a ,b-s1,t' });
    expect(listed.map((pair) => `${pair.cell.id}-s${pair.seed}`)).toEqual([
      'b-s1',
      'a-s0',
      'a-s1',
      'b-s0',
    ]);
    expect(() => selectPairs(fixture, { only: 'a-s7' })).toThrow(/--only a-s7: no such/);
  });

  it('processIo.exec appends the command, its output and exit code to the log file', async () => {
    const io = processIo(() => {});
    const log = join(root, 'commands.log');
    const script = "console.log('out'); console.error('err'); process.exit(3)";
    expect(await io.exec([process.execPath, '-e', script], log)).toBe(3);
    expect(await io.exec([process.execPath, '-e', ''], log)).toBe(0);
    const text = await readFile(log, 'utf8');
    expect(text).toContain('out\nerr\nexit 3\n');
    expect(text.trimEnd().endsWith('exit 0')).toBe(true);
    await expect(io.exec([join(root, 'missing-binary')], log)).rejects.toThrow(/cannot start/);
    // --jobs hands each child its share of wasm threads through the environment.
    const shared = processIo(() => {}, { DET_WASM_THREADS: '1' });
    const check = "process.exit(process.env.DET_WASM_THREADS === '1' ? 0 : 4)";
    expect(await shared.exec([process.execPath, '-e', check], log)).toBe(0);
  });

  it('refuses a malformed result file, naming it', async () => {
    await mkdir(join(root, 'results'), { recursive: true });
    await writeFile(join(root, 'results', 'x.json'), '{"format":"other"}');
    await expect(readResults(join(root, 'results'))).rejects.toThrow(
      /x\.json: not a det fidelity result/,
    );
  });
});

describe('det fidelity: GA Table 3 fine-tune cells', () => {
  const detector = cell('det', { preset: 'tinyFasterRcnn', seeds: [0] });
  const source = cell('prop', { preset: 'tinyGaRpn', seeds: [0] });
  const fineTune: CellSpec = {
    ...cell('ft', { seeds: [0], steps: 12 }),
    runner: 'finetune',
    preset: 'det',
    set: ['--pos-iou', '0.6'],
    family: 'finetune',
    finetune: { proposals: 'prop', trainImages: 8, top: 300 },
  };
  const matrix: Matrix = {
    ...fixture,
    cells: [detector, source, fineTune],
    tables: [
      {
        ...fixture.tables[0]!,
        rows: [
          { label: 'D', cell: 'det', paper: [null, null] },
          { label: 'F', cell: 'ft', paper: [null, null] },
        ],
      },
    ],
    claims: [],
    quick: [],
  };

  it('needs the detector and proposal runs first, then writes proposals once and fine-tunes', async () => {
    const { io, calls } = fakeWorld();
    const lines: string[] = [];
    const logged = { log: (line: string) => lines.push(line), interactive: false };
    expect(
      await fidelityCommand({ ...commandOptions(), only: 'ft-s0' }, logged, { matrix, runner: io }),
    ).toBe(1);
    expect(lines.join('\n')).toMatch(
      /ft-s0: failed: ft-s0 needs the finished run det-s0 .*det fidelity --only det-s0/,
    );
    expect(calls).toEqual([]);
    expect(await fidelityCommand(commandOptions(), silent, { matrix, runner: io })).toBe(0);
    const runs = join(root, 'runs');
    const proposals = join(runs, 'prop-s0', 'proposals');
    const finetuneCalls = calls
      .filter((argv) => argv.includes('proposals') || argv.includes('finetune'))
      .map((argv) => argv.slice(argv.indexOf('--runs-dir')));
    expect(finetuneCalls).toEqual([
      [
        ...['--runs-dir', runs, 'proposals', '--run', 'prop-s0', '--split', 'train'],
        ...['--limit', '8', '--top', '300', '--out', proposals],
      ],
      ['--runs-dir', runs, 'proposals', '--run', 'prop-s0', '--split', 'val'].concat([
        '--top',
        '300',
        '--out',
        proposals,
      ]),
      [
        ...['--runs-dir', runs, 'finetune', '--run', 'det-s0'],
        ...['--proposals', join(proposals, 'train.top300.json')],
        ...['--val-proposals', join(proposals, 'val.top300.json')],
        ...['--name', 'ft-s0', '--pos-iou', '0.6'],
      ],
    ]);
    const saved = (await readResults(join(root, 'results'))).get('ft-s0')!;
    expect(saved).toMatchObject({ runner: 'finetune', iterations: 12, trainSeconds: 3 });
    expect(saved.evals.main!.metrics['AR@100']).toBe(0.3);
    expect(saved.fingerprint).toContain('"finetune":{"proposals":"prop"');
    // Finished: nothing runs again.
    calls.length = 0;
    await fidelityCommand(commandOptions(), silent, { matrix, runner: io });
    expect(calls).toEqual([]);
  });

  it('--jobs 2 runs two at once and starts the fine-tune only after both runs it reads', async () => {
    const { io } = fakeWorld();
    const events: string[] = [];
    let active = 0;
    let mostActive = 0;
    const slow: RunnerIo = {
      ...io,
      async exec(argv, logFile) {
        const name = argv.includes('--name')
          ? argv[argv.indexOf('--name') + 1]!
          : `${argv.includes('proposals') ? 'proposals' : 'eval'}`;
        active += 1;
        mostActive = Math.max(mostActive, active);
        events.push(`start ${name}`);
        // Training takes a while; the other job runs meanwhile.
        await new Promise((resolve) => setTimeout(resolve, argv.includes('train') ? 30 : 1));
        const code = await io.exec(argv, logFile);
        events.push(`end ${name}`);
        active -= 1;
        return code;
      },
    };
    // The fine-tune first in the order asked: it still waits for det-s0 and prop-s0.
    expect(
      await fidelityCommand(
        { ...commandOptions(), only: 'ft-s0,det-s0,prop-s0', jobs: 2 },
        silent,
        {
          matrix,
          runner: slow,
        },
      ),
    ).toBe(0);
    expect(mostActive).toBe(2);
    expect(events.slice(0, 2).sort()).toEqual(['start det-s0', 'start prop-s0']);
    const fineTuneStart = events.indexOf('start ft-s0');
    expect(fineTuneStart).toBeGreaterThan(events.indexOf('end det-s0'));
    expect(fineTuneStart).toBeGreaterThan(events.indexOf('end prop-s0'));
    expect([...(await readResults(join(root, 'results'))).keys()].sort()).toEqual([
      'det-s0',
      'ft-s0',
      'prop-s0',
    ]);
  });

  it('a fine-tune that ends at another iteration count than the cell expects has no result', async () => {
    const { io } = fakeWorld({ fineTuneIters: 9 });
    const lines: string[] = [];
    const logged = { log: (line: string) => lines.push(line), interactive: false };
    expect(await fidelityCommand(commandOptions(), logged, { matrix, runner: io })).toBe(1);
    expect(lines.join('\n')).toMatch(
      /ft-s0: failed: .*stopped at 9 iterations, the cell expects 12/,
    );
    expect(existsSync(join(root, 'results', 'ft-s0.json'))).toBe(false);
  });

  it("a fine-tune's fingerprint carries its input cells' recipes", () => {
    const cellOf = (id: string) => fullMatrix.cells.find((c) => c.id === id)!;
    for (const id of ['ft-rpn', 'ft-ga-rpn']) {
      const spec = cellOf(id);
      const detectorCell = cellOf(spec.preset);
      const proposalCell = cellOf(spec.finetune!.proposals);
      expect(spec.finetune!.inputs).toEqual({
        detector: {
          preset: detectorCell.preset,
          set: detectorCell.set,
          data: 'default',
          steps: 1000,
        },
        proposals: {
          preset: proposalCell.preset,
          set: proposalCell.set,
          data: 'default',
          steps: proposalCell.steps,
        },
      });
      // Retraining the detector with another recipe changes the fine-tune's fingerprint.
      const changed: CellSpec = {
        ...spec,
        finetune: {
          ...spec.finetune!,
          inputs: {
            ...spec.finetune!.inputs!,
            detector: { ...spec.finetune!.inputs!.detector, set: ['train.baseLr=0.01'] },
          },
        },
      };
      expect(fingerprintOf(changed, 0)).not.toBe(fingerprintOf(spec, 0));
    }
  });

  it("every det cell trains torchvision's BatchNorm recipe except the fixed-statistics parity rows", () => {
    const recipe = ['backbone.norm="batch"', 'backbone.zeroInitResidual=false'];
    const fixed = new Set(['parity-det-retinanet', 'parity-det-faster']);
    const det = fullMatrix.cells.filter((cell) => cell.runner === 'det');
    expect(det.length).toBeGreaterThan(15);
    for (const cell of det) {
      for (const field of recipe) {
        expect(cell.set.includes(field), `${cell.id}: ${field}`).toBe(!fixed.has(cell.id));
      }
    }
    // The torchvision rows these compare with: --norm det is the fixed-statistics one.
    const torchFixed = fullMatrix.cells.filter(
      (c) => c.runner === 'torch' && c.id.endsWith('-fixed'),
    );
    expect(torchFixed.map((c) => c.set.includes('det'))).toEqual([true, true]);
    // The parity table's det rows are cells trained with torchvision's learning rate.
    const parity = fullMatrix.tables.find((table) => table.id === 'parity')!;
    for (const row of parity.rows) {
      const cell = fullMatrix.cells.find((c) => c.id === row.cell)!;
      const lr = cell.runner === 'det' ? 'train.baseLr=0.0005' : '5e-4';
      expect(cell.set, row.label).toContain(lr);
    }
    // The fixed-statistics rows are one-seed context: no claim rests on them.
    for (const id of [...fixed, ...torchFixed.map((c) => c.id)]) {
      expect(fullMatrix.cells.find((c) => c.id === id)!.seeds, id).toEqual([0]);
    }
    const claimed = fullMatrix.claims
      .filter((claim) => claim.table === 'parity')
      .flatMap((claim) => [claim.better, claim.worse]);
    expect(claimed.length).toBe(4);
    expect(claimed.every((label) => label.endsWith('BatchNorm'))).toBe(true);
  });

  it('the committed results still match their cells (no fingerprint went stale)', async () => {
    const committed = await readResults(
      fileURLToPath(new URL('../../../../docs/fidelity/results', import.meta.url)),
    );
    expect(committed.size).toBeGreaterThan(0);
    for (const result of committed.values()) {
      const spec = fullMatrix.cells.find((c) => c.id === result.cell);
      expect(spec, result.run).toBeDefined();
      expect(result.fingerprint, result.run).toBe(fingerprintOf(spec!, result.seed));
    }
  });
});

describe('docs/fidelity.md generator', () => {
  const [a, b] = fixture.cells as [CellSpec, CellSpec];

  it('shows mean ± sd over seeds beside the paper, pending rows, and the budget', () => {
    const results = new Map(
      [result(a, 0, 0.6), result(a, 1, 0.62), result(b, 0, 0.4), result(b, 1, 0.44)].map((r) => [
        r.run,
        r,
      ]),
    );
    const page = renderFidelityDocs(fixture, results, { commands: ['pnpm fidelity'] });
    expect(page).toContain('| A | 61.0 ± 1.4 | 59.2 | 101 ± 1 | 22274 | 2/2 |');
    expect(page).toContain('| B | 42.0 ± 2.8 | 47.5 | 101 ± 1 | — | 2/2 |');
    expect(page).toContain('| C ¹ | — | 1.0 | — | — | — |');
    expect(page).toContain('¹ C: no switch');
    expect(page).toContain('Runs finished: **4 of 4**');
    // Per cell: the time its finished runs took (10 s training + 4 s evaluation each).
    expect(page).toContain('| a | 2/2 | 0 min | 0.50 | 0.0 h |');
    expect(page).toContain('**Reproduced:** A beats B: 61.0 vs 42.0');
    expect(page).toContain('pnpm fidelity');
  });

  it('says pending without results, leaves stale results out, and judges noise', () => {
    const empty = renderFidelityDocs(fixture, new Map(), { commands: [] });
    expect(empty).toContain('| A | pending | 59.2 | pending | 22274 | 0/2 |');
    expect(empty).toContain('**Pending (no runs yet):** A beats B');
    const stale = result({ ...a, steps: 99 }, 0, 0.9);
    expect(renderFidelityDocs(fixture, new Map([[stale.run, stale]]), { commands: [] })).toContain(
      '| A | pending |',
    );
    const noisy = new Map(
      [result(a, 0, 0.5), result(a, 1, 0.7), result(b, 0, 0.55), result(b, 1, 0.56)].map((r) => [
        r.run,
        r,
      ]),
    );
    expect(judgeClaim(fixture, noisy, fixture.claims[0]!)).toEqual({
      verdict: 'within noise',
      text: 'A beats B: 60.0 vs 55.5 (±14.1 noise)',
    });
    // A metric that is not a COCO fraction reads in the table's own units (counts here).
    const counts = { ...fixture.claims[0]!, text: 'A has anchors', metric: 'anchorsPerImage' };
    expect(judgeClaim(fixture, noisy, counts).text).toBe('A has anchors: 101 vs 101 (±1 noise)');
    const single = new Map([result(a, 0, 0.5), result(b, 0, 0.6)].map((r) => [r.run, r]));
    expect(judgeClaim(fixture, single, fixture.claims[0]!)).toMatchObject({
      verdict: 'provisional',
    });
  });

  it("judges 'not-worse' (parity): ahead holds, behind within the noise holds, far behind fails", () => {
    const claim = {
      ...fixture.claims[0]!,
      text: 'A is not weaker than B',
      kind: 'not-worse' as const,
    };
    const judge = (aValues: [number, number], bValues: [number, number]) =>
      judgeClaim(
        fixture,
        new Map(
          [
            result(a, 0, aValues[0]),
            result(a, 1, aValues[1]),
            result(b, 0, bValues[0]),
            result(b, 1, bValues[1]),
          ].map((r) => [r.run, r]),
        ),
        claim,
      ).verdict;
    expect(judge([0.9, 0.92], [0.5, 0.52])).toBe('reproduced');
    // 0.05 behind with a spread of ~0.04 (noise ±0.08): holds.
    expect(judge([0.45, 0.5], [0.5, 0.55])).toBe('reproduced');
    expect(judge([0.2, 0.21], [0.5, 0.52])).toBe('not reproduced');
    const single = new Map([result(a, 0, 0.2), result(b, 0, 0.5)].map((r) => [r.run, r]));
    expect(judgeClaim(fixture, single, claim)).toEqual({
      verdict: 'provisional',
      text: 'A is not weaker than B: 20.0 vs 50.0 (1 seed; behind)',
    });
  });

  it('estimates the budget from measured step times, else the assumption', () => {
    const measured = result(a, 0, 0.5, {
      evals: { main: { metrics: { 'AR@100': 0.5 } }, eps: { metrics: { 'AR@100': 0.4 } } },
    });
    const budget = estimateBudget(fixture, new Map([['a-s0', measured]]));
    // a: measured 0.5 s/step × 20 steps + 1 evaluation × 4 s, two seeds; b: assumed 3 s/step.
    expect(budget.cells.map((c) => [c.cell, c.measured, c.seconds])).toEqual([
      ['a', true, 2 * (20 * 0.5 + 4)],
      ['b', false, 2 * 20 * 3],
    ]);
    expect(budget.cells.map((c) => c.taken)).toEqual([14, 0]);
    expect(budget.remaining).toBe(14 + 120);
    expect(budget.spent).toBe(14);
    expect(budget.quick).toBe(14); // quick = [a, seed 0]
  });

  it('the real matrix: every row names a cell, every claim a row, quick fits its cells', () => {
    const page = renderFidelityDocs(fullMatrix, new Map(), { commands: [] });
    for (const table of fullMatrix.tables) expect(page).toContain(table.title);
    for (const claim of fullMatrix.claims)
      expect(judgeClaim(fullMatrix, new Map(), claim).verdict).toBe('pending');
    expect(selectPairs(fullMatrix, { quick: true }).length).toBe(fullMatrix.quick.length);
    expect(estimateBudget(fullMatrix, new Map()).total / 3600).toBeLessThan(8);
  });
});
