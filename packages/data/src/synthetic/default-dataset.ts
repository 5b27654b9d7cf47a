import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type GenerateSyntheticDatasetOptions,
  generateSyntheticDataset,
  type SyntheticDatasetPaths,
  type SyntheticManifest,
  syntheticFormatVersion,
} from './generate';

/** The embedded default: what the README's first command trains on. */
export const defaultSyntheticOptions = {
  seed: 0,
  trainImages: 1000,
  valImages: 200,
  width: 320,
  height: 320,
} as const satisfies Omit<GenerateSyntheticDatasetOptions, 'outDir'>;

export const defaultDatasetName = 'det-synth-default';

function findUp(start: string, marker: string): string | undefined {
  let folder = resolve(start);
  for (;;) {
    if (existsSync(join(folder, marker))) return folder;
    const parent = dirname(folder);
    if (parent === folder) return undefined;
    folder = parent;
  }
}

/**
 * The cache folder: `$DET_CACHE_DIR`, else `<repo>/.cache` for the workspace this module (or the
 * working directory) lives in, else `./.cache`.
 */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.DET_CACHE_DIR) return resolve(env.DET_CACHE_DIR);
  let here: string | undefined;
  try {
    here = dirname(fileURLToPath(import.meta.url));
  } catch {
    here = undefined;
  }
  const root =
    (here && findUp(here, 'pnpm-workspace.yaml')) ?? findUp(process.cwd(), 'pnpm-workspace.yaml') ?? process.cwd();
  return join(root, '.cache');
}

function pathsOf(root: string, manifest: SyntheticManifest): SyntheticDatasetPaths {
  const split = (name: 'train' | 'val', images: number) => ({
    annotationFile: join(root, 'annotations', `instances_${name}.json`),
    imageRoot: join(root, name),
    images,
    annotations: -1,
  });
  return {
    root,
    train: split('train', manifest.trainImages),
    val: split('val', manifest.valImages),
    manifestFile: join(root, 'manifest.json'),
  };
}

async function readManifest(root: string): Promise<SyntheticManifest | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(root, 'manifest.json'), 'utf8')) as SyntheticManifest;
    const complete =
      manifest.format === 'det-synth' &&
      manifest.version === syntheticFormatVersion &&
      manifest.seed === defaultSyntheticOptions.seed &&
      manifest.trainImages === defaultSyntheticOptions.trainImages &&
      manifest.valImages === defaultSyntheticOptions.valImages &&
      existsSync(join(root, 'annotations', 'instances_train.json')) &&
      existsSync(join(root, 'annotations', 'instances_val.json'));
    return complete ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Returns the embedded default dataset (1000 train + 200 val images at 320×320, seed 0),
 * generating it into `<cacheDir>/det-synth-default` on first use. Generation writes into a
 * temporary folder renamed into place, so a crash or a concurrent process never leaves a
 * half-written dataset behind. `annotations` counts are -1 when the cache was reused.
 */
export async function ensureDefaultDataset(
  options: { cacheDir?: string; env?: Record<string, string | undefined> } = {},
): Promise<SyntheticDatasetPaths> {
  const cacheDir = options.cacheDir ? resolve(options.cacheDir) : defaultCacheDir(options.env);
  const root = join(cacheDir, defaultDatasetName);
  const existing = await readManifest(root);
  if (existing) return pathsOf(root, existing);

  const temporary = `${root}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    const generated = await generateSyntheticDataset({ ...defaultSyntheticOptions, outDir: temporary });
    if (existsSync(root)) {
      // Either stale (wrong version) or written by a concurrent process meanwhile.
      const raced = await readManifest(root);
      if (raced) return pathsOf(root, raced);
      const stale = `${root}.stale-${process.pid}-${Date.now().toString(36)}`;
      await rename(root, stale);
      await rm(stale, { recursive: true, force: true });
    }
    try {
      await rename(temporary, root);
    } catch (error) {
      const raced = await readManifest(root);
      if (raced) return pathsOf(root, raced);
      throw error;
    }
    const relocate = (path: string) => join(root, path.slice(temporary.length + 1));
    return {
      root,
      train: { ...generated.train, annotationFile: relocate(generated.train.annotationFile), imageRoot: relocate(generated.train.imageRoot) },
      val: { ...generated.val, annotationFile: relocate(generated.val.annotationFile), imageRoot: relocate(generated.val.imageRoot) },
      manifestFile: relocate(generated.manifestFile),
    };
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}
