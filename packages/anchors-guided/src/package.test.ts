import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Imports `specifier` from the built package in a fresh Node process and reports every
 * native addon (`.node` file) it loaded and whether sharp was required.
 */
function nativeModulesLoadedBy(specifier: string): { addons: string[]; sharp: boolean } {
  const script = [
    'import { createRequire } from "node:module";',
    'const addons = [];',
    'const dlopen = process.dlopen;',
    'process.dlopen = (module, file, ...rest) => { addons.push(file); return dlopen(module, file, ...rest); };',
    `await import(${JSON.stringify(specifier)});`,
    'const cache = createRequire(import.meta.url).cache;',
    'const sharp = Object.keys(cache).some((file) => /[\\\\/]sharp[\\\\/]/.test(file));',
    'console.log(JSON.stringify({ addons, sharp }));',
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: packageDir,
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop() as string);
}

describe('@det/anchors-guided entry points', () => {
  it('the main entry loads no native module; the diagnostics subpath loads sharp', () => {
    expect(existsSync(`${packageDir}/dist/index.js`), 'build first').toBe(true);
    expect(nativeModulesLoadedBy('@det/anchors-guided')).toEqual({ addons: [], sharp: false });
    const diagnostics = nativeModulesLoadedBy('@det/anchors-guided/diagnostics');
    expect(diagnostics.sharp).toBe(true);
    expect(diagnostics.addons.some((file) => /sharp/.test(file))).toBe(true);
  }, 60_000);
});
