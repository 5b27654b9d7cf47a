import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('../../../scripts/pack-check.mjs', import.meta.url));

describe('@det/core as a published package', () => {
  it('ships no tfjs-core engine, tensor or kernel registry: only registrations bound to the peer', () => {
    const dist = readFileSync(`${packageDir}/dist/index.js`, 'utf8');
    // esbuild marks each bundled module with a `// <path>` comment; rewired ones say `tfjs-core-peer:`.
    const bundled = [...dist.matchAll(/^\/\/ \S*tfjs-core\/dist\/(\S+)$/gm)]
      .filter((match) => !match[0].startsWith('// tfjs-core-peer:'))
      .map((match) => match[1] as string);
    expect(bundled).toContain('register_all_gradients.js');
    expect(bundled.filter((file) => file.startsWith('gradients/')).length).toBeGreaterThan(50);
    for (const engineFile of [
      'engine.js',
      'tensor.js',
      'kernel_registry.js',
      'environment.js',
      'tape.js',
      'globals.js',
      'base.js',
      'ops/ops.js',
    ]) {
      expect(bundled, engineFile).not.toContain(engineFile);
    }
    expect(dist).not.toMatch(
      /class Engine\b|getOrMakeEngine|function registerKernel\b|class Tensor\b/,
    );
    expect(dist).toMatch(/from "@tensorflow\/tfjs-core"/);
  });

  it('packs, installs beside tfjs-core alone, imports, picks wasm, and trains: gradients and chained ops from dist', () => {
    expect(
      existsSync(`${packageDir}/dist/index.js`),
      'build @det/core first (turbo test depends on build)',
    ).toBe(true);
    const probe = [
      'const tf = await import("@tensorflow/tfjs-core");',
      'const info = await m.initBackend();',
      'const a = tf.variable(tf.scalar(2)), b = tf.variable(tf.scalar(3));',
      'const { grads } = tf.variableGrads(() => tf.addN([tf.mul(a, a), tf.mul(b, tf.scalar(5)), tf.scalar(1)]), [a, b]);',
      'const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);',
      'const pool = tf.grad((t) => tf.maxPool(t, 2, 1, "valid").sum())(x);',
      'console.log(JSON.stringify({ name: info.name, exports: Object.keys(m).length, sum: tf.tensor([1, 2]).sum().dataSync()[0], da: grads[a.name].dataSync()[0], db: grads[b.name].dataSync()[0], pool: Array.from(pool.dataSync()) }))',
    ].join('\n');
    const out = execFileSync(process.execPath, [script, packageDir, probe], { encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result.name).toBe('wasm');
    expect(result.exports).toBeGreaterThan(10);
    expect(result.sum).toBe(3);
    expect(result.da).toBe(4);
    expect(result.db).toBe(5);
    // d(sum of 2×2 max pools)/dx: each window's max (5, 6, 8, 9) gets its window's gradient.
    expect(result.pool).toEqual([0, 0, 0, 0, 1, 1, 0, 1, 1]);
  }, 180_000);
});
