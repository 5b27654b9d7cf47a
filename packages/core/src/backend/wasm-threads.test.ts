import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The backend is chosen once per process, so each thread count runs in its own process
// (against the built dist; turbo's test task depends on build).
const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const script = `
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import(${JSON.stringify(dist)});
  const info = await initBackend();
  const x = tf.randomNormal([2, 33, 33, 16], 0, 1, 'float32', 1);
  const w = tf.randomNormal([3, 3, 16, 32], 0, 1, 'float32', 2);
  const y = tf.conv2d(x, w, 1, 'same');
  const g = tf.grad((f) => tf.sum(tf.square(tf.conv2d(x, f, 2, 'same'))))(w);
  console.log(JSON.stringify({ threads: info.threads, y: Array.from(y.dataSync().slice(0, 64)), g: Array.from(g.dataSync().slice(0, 64)) }));
`;

function run(env: Record<string, string>) {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, DET_BACKEND: 'wasm', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { threads: number; y: number[]; g: number[] };
}

describe('DET_WASM_THREADS', () => {
  it('starts the pthread build under Node with the asked thread count and the same numbers', () => {
    const single = run({ DET_WASM_THREADS: '1' });
    const threaded = run({ DET_WASM_THREADS: '2' });
    expect(single.threads).toBe(1);
    expect(threaded.threads).toBe(2);
    for (const [i, v] of threaded.y.entries()) expect(v).toBeCloseTo(single.y[i]!, 3);
    for (const [i, v] of threaded.g.entries()) expect(v).toBeCloseTo(single.g[i]!, 1);
  });
});
