/**
 * Imports a Node built-in at run time through a computed specifier, so that a bundler building
 * for a web page never follows it: det's main entries stay free of `node:*` modules (the
 * playground's bundle check guards that), and only the Node-only code paths that need one
 * load it. In a browser this rejects naming the module and what to do instead.
 */
export async function importNodeBuiltin<T>(
  specifier: `node:${string}`,
  needFor: string,
): Promise<T> {
  const isNode =
    typeof globalThis.process === 'object' && typeof globalThis.process.versions?.node === 'string';
  if (!isNode) throw new Error(`${needFor} needs Node (${specifier}); it is not available here`);
  const name: string = specifier;
  return (await import(/* @vite-ignore */ name)) as T;
}
