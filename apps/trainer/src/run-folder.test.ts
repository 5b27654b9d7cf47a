import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  allocateRunDirectory,
  appendMetricsRow,
  pruneAfter,
  readJsonLines,
  runPaths,
} from './run-folder';

describe('run folder', () => {
  it('a resumed run drops what a killed session logged past its checkpoint', async () => {
    const paths = runPaths(await mkdtemp(join(tmpdir(), 'det-run-')));
    // Steps 0..5 logged, the last line cut by the kill; evaluations at 2 and 4.
    await writeFile(
      paths.log,
      `${[0, 1, 2, 3, 4, 5].map((iteration) => JSON.stringify({ iteration })).join('\n')}\n{"iterat`,
    );
    await appendMetricsRow(paths.metrics, { iteration: 2, AP: 0.1 });
    await appendMetricsRow(paths.metrics, { iteration: 4, AP: 0.2 });
    await mkdir(paths.evals);
    await writeFile(join(paths.evals, 'iteration-0000002.json'), '{}');
    await writeFile(join(paths.evals, 'iteration-0000004.json'), '{}');
    // The checkpoint holds 3 completed iterations (steps 0, 1, 2).
    await pruneAfter(paths, 3);
    expect(
      (await readJsonLines<{ iteration: number }>(paths.log)).map((line) => line.iteration),
    ).toEqual([0, 1, 2]);
    expect(await readFile(paths.metrics, 'utf8')).toBe('iteration,AP\n2,0.1\n');
    expect(await readdir(paths.evals)).toEqual(['iteration-0000002.json']);
  });

  it('an empty log stays empty', async () => {
    const paths = runPaths(await mkdtemp(join(tmpdir(), 'det-run-')));
    await writeFile(paths.log, '');
    await pruneAfter(paths, 0);
    expect(await readFile(paths.log, 'utf8')).toBe('');
  });

  it('a taken name gets a suffix unless resuming', async () => {
    const root = await mkdtemp(join(tmpdir(), 'det-runs-'));
    expect(allocateRunDirectory(root, 'demo', false)).toBe(join(root, 'demo'));
    await mkdir(join(root, 'demo'));
    expect(allocateRunDirectory(root, 'demo', false)).toBe(join(root, 'demo-2'));
    expect(allocateRunDirectory(root, 'demo', true)).toBe(join(root, 'demo'));
  });
});
