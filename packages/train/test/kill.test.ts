import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@det/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposeCheckpoint, readCheckpoint } from '../src/checkpoint';

// The child runs the BUILT @det/train (the test task depends on the build).
const childScript = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'train-child.mjs');
// Long enough (~3 ms a step) that the eight kills below cannot reach the end between them.
const maxIters = 1000;

/**
 * Runs the child to the end, or SIGKILLs it `killAfterMs` after it starts (`from: 'start'`,
 * possibly while it restores) or after its first "step" line (`from: 'training'`); returns its
 * last printed step.
 */
function runChild(
  directory: string,
  kill?: { afterMs: number; from: 'start' | 'training' },
): Promise<{ lastStep: number; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [childScript, directory, String(maxIters)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lastStep = -1;
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), kill!.afterMs);
    };
    if (kill?.from === 'start') arm();
    child.stdout.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString().matchAll(/step (\d+)/g)) lastStep = Number(match[1]);
      if (kill?.from === 'training' && lastStep >= 0) arm();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ lastStep, killed: true });
      else if (code === 0) resolve({ lastStep, killed: false });
      else reject(new Error(`child exited ${code}: ${stderr}`));
    });
  });
}

async function finalWeights(directory: string): Promise<Map<string, Float32Array>> {
  const saved = await readCheckpoint(join(directory, 'last'));
  expect(saved.state.iteration).toBe(maxIters);
  const weights = new Map(
    [...saved.parameters].map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]),
  );
  disposeCheckpoint(saved);
  return weights;
}

describe('kill -9 during training', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('never leaves a corrupt checkpoint, loses at most one interval, and resumes to the same weights', async () => {
    const straight = await mkdtemp(join(tmpdir(), 'det-kill-straight-'));
    await runChild(straight);
    const expected = await finalWeights(straight);

    const interrupted = await mkdtemp(join(tmpdir(), 'det-kill-'));
    const kills: string[] = [];
    let midTraining = 0;
    for (let attempt = 0; attempt < 8; attempt++) {
      // Random moments: mostly during training (checkpoint every step, so often mid-write),
      // every third from start-up (while importing or restoring).
      const from = attempt % 3 === 2 ? 'start' : 'training';
      const afterMs = Math.round(Math.random() * (from === 'start' ? 800 : 120));
      kills.push(`${from}+${afterMs}ms`);
      const { lastStep, killed } = await runChild(interrupted, { afterMs, from });
      if (!killed) break;
      if (lastStep >= 0) midTraining += 1;
      const base = join(interrupted, 'last');
      if (!existsSync(`${base}.safetensors`)) {
        // Killed before the first checkpoint landed: at most that first interval (step 0,
        // printed before its checkpoint is written) is lost.
        expect(lastStep, `kills ${kills}`).toBeLessThanOrEqual(0);
        continue;
      }
      // Readable and verified (checksum) after every kill.
      const saved = await readCheckpoint(base);
      // "step N" is printed after iteration N completes and before its checkpoint is written:
      // at most that one interval is lost.
      expect(saved.state.iteration, `kills ${kills}`).toBeGreaterThanOrEqual(lastStep);
      disposeCheckpoint(saved);
    }
    expect(midTraining, `kills ${kills}`).toBeGreaterThanOrEqual(3);
    const { killed } = await runChild(interrupted);
    expect(killed).toBe(false);
    const resumed = await finalWeights(interrupted);
    for (const [name, values] of expected) {
      const actual = resumed.get(name)!;
      for (let i = 0; i < values.length; i++)
        expect(Math.abs(actual[i]! - values[i]!), `${name}[${i}]`).toBeLessThanOrEqual(1e-6);
    }
    // A finished run leaves no temporary files behind.
    expect((await readdir(interrupted)).sort()).toEqual(['last.json', 'last.safetensors']);
  }, 120_000);
});
