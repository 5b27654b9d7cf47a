import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import type { Options } from 'tsup';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];

// tfjs-core's Node entry registers no gradients and no chained ops (`x.sum()`); the files
// that do (`dist/register_all_gradients.js`, `dist/public/chained_ops/*.js`) are
// extensionless ESM that plain Node cannot import. This esbuild plugin bundles exactly those
// registration files and rewires every other tfjs-core module they reach to the user's peer
// `@tensorflow/tfjs-core` through its public API, so @det/core ships no engine, tensor,
// kernel registry or op of its own: one engine and one kernel registry exist, whichever 4.x
// the user installed. A module that cannot be rewired fails the build (see `bundled`).

const require = createRequire(import.meta.url);
const tfjsCoreDist = join(dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist');
const peerNamespace = 'tfjs-core-peer';

// Modules whose own code is bundled: the registrations, the gradient configs, and the few
// internal op wrappers (`maxPoolGrad`, `conv2DBackpropInput`, …) the public API does not
// export; each of these only calls `ENGINE.runKernel` and public ops.
const bundled = [
  /^register_all_gradients\.js$/,
  /^gradients\/.*\.js$/,
  /^public\/chained_ops\/.*\.js$/,
  /^ops\/[a-z0-9_]+(_grad|_backprop_input|_backprop_filter|_backprop)\.js$/,
  /^tensor_util_env\.js$/,
  /^types\.js$/,
];

// Names the public API offers under another name or inside a namespace object.
const publicAliases: Record<string, string> = {
  ENGINE: 'tf.engine()',
  getGlobalTensorClass:
    "() => globalThis._tfGlobals?.get('Tensor') ?? tf.Tensor" /* what tensor.js does */,
};
const publicNamespaces = [
  'util',
  'backend_util',
  'broadcast_util',
  'slice_util',
  'image',
  'tensor_util',
  'device_util',
  'io',
  'math',
];

/** Names a tfjs-core dist module exports (its own declarations and re-exports). */
function exportedNames(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const names = new Set<string>();
  for (const match of source.matchAll(
    /export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)/g,
  )) {
    names.add(match[1] as string);
  }
  for (const match of source.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const part of (match[1] as string).split(',')) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop();
      if (name) names.add(name);
    }
  }
  for (const match of source.matchAll(/export\s*\*\s*from\s*'([^']+)'/g)) {
    for (const name of exportedNames(`${resolve(dirname(file), match[1] as string)}.js`)) {
      names.add(name);
    }
  }
  return [...names];
}

/** A module that re-exports, from the peer's public API, every name it can find there. */
function peerShim(file: string, publicApi: Record<string, unknown>): string {
  const lines = ["import * as tf from '@tensorflow/tfjs-core';"];
  for (const name of exportedNames(file)) {
    if (name === 'default') continue;
    let expression: string | undefined = publicAliases[name];
    if (expression === undefined && name in publicApi) expression = `tf.${name}`;
    if (expression === undefined) {
      const namespace = publicNamespaces.find(
        (space) => name in ((publicApi[space] ?? {}) as object),
      );
      if (namespace) expression = `tf.${namespace}.${name}`;
    }
    // A name the public API lacks stays unexported: esbuild then fails on any import of it.
    if (expression !== undefined) lines.push(`export const ${name} = ${expression};`);
  }
  return lines.join('\n');
}

export function tfjsCorePeerPlugin(): Plugin {
  return {
    name: 'tfjs-core-peer',
    setup(build) {
      const publicApi = require('@tensorflow/tfjs-core') as Record<string, unknown>;
      build.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\// }, (args) => ({
        path: `${require.resolve('@tensorflow/tfjs-core/package.json').replace(/package\.json$/, '')}${args.path.slice('@tensorflow/tfjs-core/'.length)}.js`,
      }));
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (!args.importer.startsWith(tfjsCoreDist)) return undefined;
        const file = `${resolve(args.resolveDir, args.path)}.js`;
        const local = relative(tfjsCoreDist, file);
        if (bundled.some((pattern) => pattern.test(local))) return { path: file };
        return { path: file, namespace: peerNamespace };
      });
      build.onLoad({ filter: /.*/, namespace: peerNamespace }, (args) => ({
        contents: peerShim(args.path, publicApi),
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
    },
  };
}
