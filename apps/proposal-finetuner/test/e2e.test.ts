import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSyntheticDataset } from '@det/data';
import { beforeAll, describe, expect, it } from 'vitest';

/** The BUILT binaries (the test task depends on the build, and the build on @det/trainer's). */
const finetuneBinary = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const detBinary = join(
  dirname(createRequire(import.meta.url).resolve('@det/trainer/package.json')),
  'dist',
  'cli.js',
);

function run(binary: string, args: readonly string[], cwd: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('node', [binary, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '1', DET_WASM_THREADS: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * proposals → finetune → compare from the built `det-finetune` on 64×48 synthetic images: a
 * tiny Faster R-CNN and GA-RPN trained for 1 step by the built `det`, GA-RPN and own-RPN
 * proposals, a fine-tune on each (2 epochs of 4 images), and the Table 3 rows.
 */
describe('det-finetune (built binary)', () => {
  let cwd: string;
  const finetune = (...args: string[]) => run(finetuneBinary, args, cwd);

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'det-finetune-e2e-'));
    const paths = await generateSyntheticDataset({
      outDir: join(cwd, 'data'),
      trainImages: 4,
      valImages: 2,
      width: 64,
      height: 48,
    });
    const data = [
      '--annotations',
      paths.train.annotationFile,
      '--images',
      paths.train.imageRoot,
      '--val-annotations',
      paths.val.annotationFile,
      '--val-images',
      paths.val.imageRoot,
      '--set',
      'train.maxIters=1',
      '--set',
      'run.reportImages=0',
    ];
    const trained = await Promise.all([
      run(detBinary, ['train', '--preset', 'tinyFasterRcnn', '--name', 'faster', ...data], cwd),
      run(detBinary, ['train', '--preset', 'tinyGaRpn', '--name', 'ga', ...data], cwd),
    ]);
    for (const result of trained) expect(result.code, result.stderr).toBe(0);
  }, 120_000);

  it('proposals, finetune and compare run; compare prints every row', async () => {
    const proposals = await Promise.all([
      finetune('proposals', '--run', 'ga', '--split', 'train', '--top', '5,20', '--out', 'p/ga'),
      finetune('proposals', '--run', 'ga', '--split', 'val', '--top', '5,20', '--out', 'p/ga'),
      finetune(
        'proposals',
        '--run',
        'faster',
        '--split',
        'train',
        '--top',
        '5,20',
        '--out',
        'p/rpn',
      ),
      finetune(
        'proposals',
        '--run',
        'faster',
        '--split',
        'val',
        '--top',
        '5,20',
        '--shard',
        '0/2',
        '--out',
        'p/rpn',
      ),
      finetune(
        'proposals',
        '--run',
        'faster',
        '--split',
        'val',
        '--top',
        '5,20',
        '--shard',
        '1/2',
        '--out',
        'p/rpn',
      ),
    ]);
    for (const result of proposals) expect(result.code, result.stderr).toBe(0);
    expect(proposals[0]!.stdout).toMatch(/merged 1 shard\(s\) of train: 4 images, \d+ proposals/);
    expect(proposals[2]!.stdout).toContain('(two-stage rpn (dense): its RPN');
    // A shard alone does not merge; merge names nothing missing once both are there.
    expect(proposals[3]!.stdout).not.toContain('merged');
    const merged = await finetune('merge', '--out', 'p/rpn', '--split', 'val', '--top', '5,20');
    expect(merged.stdout, merged.stderr).toMatch(/merged 2 shard\(s\) of val: 2 images/);
    const rerun = await finetune(
      'proposals',
      '--run',
      'faster',
      '--split',
      'val',
      '--top',
      '5,20',
      '--shard',
      '1/2',
      '--out',
      'p/rpn',
    );
    expect(rerun.stdout).toContain('shard 1/2 of val: done already');

    const tunes = await Promise.all([
      finetune(
        'finetune',
        '--run',
        'faster',
        '--proposals',
        'p/ga/train.top5.json',
        '--val-proposals',
        'p/ga/val.top5.json',
        '--name',
        'ft-ga',
        '--epochs',
        '2',
        '--pos-iou',
        '0.6',
        '--neg-iou',
        '0.6',
        '--roi-samples',
        '16',
      ),
      finetune(
        'finetune',
        '--run',
        'faster',
        '--proposals',
        'p/rpn/train.top5.json',
        '--val-proposals',
        'p/rpn/val.top5.json',
        '--name',
        'ft-rpn',
        '--epochs',
        '2',
      ),
    ]);
    for (const result of tunes) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('4 iterations (2 epochs), lr 0.02 ×0.1 at 2');
      expect(result.stdout).toContain('dropped 6 the model does not have (rpn_head.*)');
      expect(result.stdout).toContain('trained to iteration 4: reached maxIters 4');
    }
    // A rerun of a finished (or killed) fine-tune resumes its own last checkpoint.
    const again = await finetune(
      'finetune',
      '--run',
      'faster',
      '--proposals',
      'p/rpn/train.top5.json',
      '--val-proposals',
      'p/rpn/val.top5.json',
      '--name',
      'ft-rpn',
      '--epochs',
      '2',
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(
      `resuming from ${join('runs', 'ft-rpn', 'checkpoints', 'last.safetensors')}`,
    );
    expect(again.stdout).toContain('nothing to train: the run is at maxIters 4');
    expect(again.stdout).not.toContain('initialised');
    const log = (await readFile(join(cwd, 'runs', 'ft-ga', 'log.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { lr: number });
    expect(log.map((line) => Number(line.lr.toPrecision(3)))).toEqual([0.02, 0.02, 0.002, 0.002]);
    const config = JSON.parse(await readFile(join(cwd, 'runs', 'ft-ga', 'config.json'), 'utf8'));
    expect(config.detector.roi).toMatchObject({
      sampleSize: 16,
      assigner: { posIouThreshold: 0.6, negIouThreshold: 0.6 },
    });
    expect(config.detector.proposals).toEqual({ type: 'precomputed' });

    const compared = await finetune(
      'compare',
      '--before',
      'faster',
      '--before-proposals',
      'p/rpn/val.top5.json',
      '--after',
      'GA-RPN=ft-ga',
      '--after',
      'RPN=ft-rpn',
      '--untouched-rows',
    );
    expect(compared.code, compared.stderr).toBe(0);
    const table = compared.stdout.slice(compared.stdout.indexOf('Table 3 analogue'));
    const number = String.raw`\s+(\d+\.\d|–)`;
    for (const [label, proposals] of [
      ['before fine-tune', 'own RPN → own RPN'],
      ['no fine-tune', 'own RPN → GA-RPN'],
      ['fine-tuned', 'GA-RPN → GA-RPN'],
      ['no fine-tune', 'own RPN → RPN'],
      ['fine-tuned', 'RPN → RPN'],
    ] as const) {
      // AP AP50 AP75 APs APm APl AR@100 AR@300 AR@1000: AR is known for every row.
      expect(table).toMatch(
        new RegExp(`${label}\\s+${proposals}${number.repeat(6)}(\\s+\\d+\\.\\d){3}`),
      );
    }
    expect(existsSync(join(cwd, 'runs', 'ft-ga', 'tables', 'table3.json'))).toBe(true);
    expect(await readFile(join(cwd, 'runs', 'ft-ga', 'report.html'), 'utf8')).toContain(
      'Guided Anchoring Table 3 layout',
    );

    const wrong = await finetune(
      'finetune',
      '--run',
      'ga',
      '--proposals',
      'p/ga/train.top5.json',
      '--val-proposals',
      'p/ga/val.top5.json',
      '--name',
      'ft-wrong',
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(
      "fine-tuning needs a two-stage detector (Faster or Fast R-CNN); this one is single-stage with head.type 'rpn'",
    );
  }, 300_000);
});
