import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { isDetSource, isNodeOnlySpecifier } from '../node-only';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** det's entries that a web page imports: each must reach no Node-only module through det's code. */
const browserEntries = [
  '@det/core',
  '@det/backbone',
  '@det/heads',
  '@det/losses',
  '@det/anchors-meta',
  '@det/anchors-guided',
  '@det/coco-eval',
  '@det/data/browser',
  '@det/detectors',
];

/** Node-only imports reachable from `entry` through det's sources (dependencies are external). */
async function nodeOnlyImports(entry: string): Promise<string[]> {
  const found: string[] = [];
  const guard: Plugin = {
    name: 'node-only-imports',
    setup(builder) {
      builder.onResolve({ filter: /.*/ }, (args) => {
        if (isNodeOnlySpecifier(args.path)) {
          if (isDetSource(args.importer))
            found.push(
              `${args.importer.slice(root.length - 'apps/playground'.length)} → ${args.path}`,
            );
          return { path: args.path, external: true };
        }
        // Only det's own packages are followed; a dependency's browser build is its own business.
        if (
          !args.path.startsWith('.') &&
          !args.path.startsWith('/') &&
          !args.path.startsWith('@det/')
        ) {
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
  await build({
    stdin: { contents: `export * from '${entry}';`, resolveDir: root, loader: 'ts' },
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    conditions: ['@det/source'],
    logLevel: 'silent',
    plugins: [guard],
  });
  return found;
}

describe("det's browser entries pull no Node-only module", () => {
  it.each(browserEntries)('%s', async (entry) => {
    expect(await nodeOnlyImports(entry)).toEqual([]);
  });

  it('the check finds them where they are (the Node entries)', async () => {
    const data = await nodeOnlyImports('@det/data');
    expect(data.some((line) => line.endsWith('→ sharp'))).toBe(true);
    expect(data.some((line) => line.endsWith('→ node:fs/promises'))).toBe(true);
    const detectorsNode = await nodeOnlyImports('@det/detectors/node');
    expect(detectorsNode).toContain('packages/detectors/src/proposals-file.ts → node:fs');
  });
});
