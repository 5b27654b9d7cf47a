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
const child = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'train-child.mjs');
const maxIters = 150;

/** Runs the child to the end, or kills it with SIGKILL after `killAfterMs`; returns its last "step N". */
function runChild(
  directory: string,
  killAfterMs?: number,
): Promise<{ lastStep: number; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const process = spawn('node', [child, directory, String(maxIters)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lastStep = -1;
    let stderr = '';
    process.stdout.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString().matchAll(/step (\d+)/g)) lastStep = Number(match[1]);
    });
    process.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => process.kill('SIGKILL'), killAfterMs);
    process.on('error', reject);
    process.on('exit', (code, signal) => {
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
    const delays: number[] = [];
    let kills = 0;
    for (let attempt = 0; attempt < 12 && kills < 6; attempt++) {
      // Random moments from start-up (no checkpoint yet) well into training.
      const delay = Math.round(150 + Math.random() * 500);
      delays.push(delay);
      const { lastStep, killed } = await runChild(interrupted, delay);
      if (!killed) break;
      kills += 1;
      const base = join(interrupted, 'last');
      if (!existsSync(`${base}.safetensors`)) {
        expect(lastStep, `delays ${delays}`).toBe(-1);
        continue;
      }
      // Readable and verified (checksum) after every kill.
      const saved = await readCheckpoint(base);
      // "step N" is printed after iteration N completes and before its checkpoint is written.
      expect(saved.state.iteration, `delays ${delays}`).toBeGreaterThanOrEqual(lastStep);
      disposeCheckpoint(saved);
    }
    expect(kills, `delays ${delays}`).toBeGreaterThanOrEqual(3);
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
  }, 60_000);
});
