import { builtinModules } from 'node:module';

const builtins = new Set(builtinModules);

/**
 * Whether an import specifier names a module that only Node has: a `node:` built-in, a bare
 * built-in (`fs`, `path`, …) or sharp (native image decoding). det's browser entries must import
 * none of them; the playground's build and its bundle test fail naming the importer.
 */
export function isNodeOnlySpecifier(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  if (specifier === 'sharp' || specifier.startsWith('sharp/')) return true;
  return builtins.has(specifier.split('/')[0] ?? specifier) && !specifier.startsWith('.');
}

/** det's own source (packages/* or apps/*), as opposed to a dependency in node_modules. */
export function isDetSource(path: string | undefined): boolean {
  return path !== undefined && !path.includes('/node_modules/') && /\/(packages|apps)\//.test(path);
}
