import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('../../../scripts/pack-check.mjs', import.meta.url));

describe('@det/core as a published package', () => {
  it('packs, installs beside tfjs-core alone, imports, and picks wasm', () => {
    expect(
      existsSync(`${packageDir}/dist/index.js`),
      'build @det/core first (turbo test depends on build)',
    ).toBe(true);
    const probe =
      'const info = await m.initBackend(); console.log(JSON.stringify({ name: info.name, exports: Object.keys(m).length, chained: typeof (await import("@tensorflow/tfjs-core")).tensor([1]).sum }))';
    const out = execFileSync(process.execPath, [script, packageDir, probe], { encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result.name).toBe('wasm');
    expect(result.chained).toBe('function');
    expect(result.exports).toBeGreaterThan(10);
  }, 180_000);
});
