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
    // tfjs-core's gradient and chained-op registrations are extensionless ESM that Node
    // cannot load: let vite transform them (tsup bundles them into @det/core's dist).
    server: { deps: { inline: [/@tensorflow\/tfjs-core\/dist\/(?!tf-core)/] } },
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
});
