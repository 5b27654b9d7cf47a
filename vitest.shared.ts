import { defineConfig } from 'vitest/config';

/**
 * One vitest config for every package: in-repo imports resolve to `src/` through the
 * `@det/source` export condition, so tests never read a stale `dist`.
 */
export const sharedConfig = defineConfig({
  resolve: { conditions: ['@det/source'] },
  ssr: { resolve: { conditions: ['@det/source'] } },
  test: {
    pool: 'forks',
    passWithNoTests: true,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
});
