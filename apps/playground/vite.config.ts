import { defaultClientConditions, defineConfig, type Plugin } from 'vite';
import { isDetSource, isNodeOnlySpecifier } from './node-only';

/** Fails the build when det's own code pulls a Node-only module into the page. */
function noNodeModules(): Plugin {
  return {
    name: 'det:no-node-modules',
    enforce: 'pre',
    resolveId(source, importer) {
      if (isDetSource(importer) && isNodeOnlySpecifier(source)) {
        this.error(
          `${importer} imports '${source}', which only Node has: a browser entry of det must not (move it behind a Node subpath such as @det/data's main entry or @det/detectors/node)`,
        );
      }
      return null;
    },
  };
}

export default defineConfig({
  // Relative asset URLs: the built site works from any folder, file server or sub-path.
  base: './',
  // In-repo packages from src/ (their `@det/source` condition), as the tests use them.
  resolve: { conditions: ['@det/source', ...defaultClientConditions] },
  plugins: [noNodeModules()],
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      // zod's sources carry comments Rollup cannot place; harmless, and not ours to fix.
      onwarn(warning, warn) {
        if (warning.code === 'INVALID_ANNOTATION') return;
        warn(warning);
      },
    },
  },
  server: { port: 5173 },
  preview: { port: 4173 },
  worker: { format: 'es' },
});
