import type { Options } from 'tsup';

/** Build settings every det package shares: ESM for Node 20 with type declarations. */
export function libraryConfig(overrides: Options = {}): Options {
  return {
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    clean: true,
    // Declarations resolve sibling packages through their built `dist`, not `src`.
    dts: { compilerOptions: { customConditions: [] } },
    ...overrides,
  };
}
