import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSyntheticOptions } from './defaults';
import {
  type GenerateSyntheticDatasetOptions,
  generateSyntheticDataset,
  type SyntheticDatasetPaths,
  type SyntheticManifest,
  syntheticFormatVersion,
} from './generate';

export { defaultSyntheticOptions };

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
    (here && findUp(here, 'pnpm-workspace.yaml')) ??
    findUp(process.cwd(), 'pnpm-workspace.yaml') ??
    process.cwd();
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

type DatasetOptions = Omit<GenerateSyntheticDatasetOptions, 'outDir'>;

async function readManifest(
  root: string,
  options: DatasetOptions,
): Promise<SyntheticManifest | undefined> {
  try {
    const manifest = JSON.parse(
      await readFile(join(root, 'manifest.json'), 'utf8'),
    ) as SyntheticManifest;
    const complete =
      manifest.format === 'det-synth' &&
      manifest.version === syntheticFormatVersion &&
      manifest.seed === (options.seed ?? 0) &&
      manifest.trainImages === (options.trainImages ?? 1000) &&
      manifest.valImages === (options.valImages ?? 200) &&
      manifest.render.width === (options.width ?? 320) &&
      manifest.render.height === (options.height ?? 320) &&
      existsSync(join(root, 'annotations', 'instances_train.json')) &&
      existsSync(join(root, 'annotations', 'instances_val.json'));
    return complete ? manifest : undefined;
  } catch {
    return undefined;
  }
}

export interface EnsureDatasetOptions {
  /** Cache folder; default `defaultCacheDir(env)`. */
  cacheDir?: string;
  env?: Record<string, string | undefined>;
}

/**
 * Returns the embedded default dataset (1000 train + 200 val images at 320×320, seed 0),
 * generating it into `<cacheDir>/det-synth-default` on first use (see `ensureSyntheticDataset`).
 */
export function ensureDefaultDataset(
  options: EnsureDatasetOptions = {},
): Promise<SyntheticDatasetPaths> {
  return ensureSyntheticDataset({
    ...options,
    name: defaultDatasetName,
    dataset: defaultSyntheticOptions,
  });
}

/**
 * Returns the synthetic dataset cached as `<cacheDir>/<name>`, generating it when absent or
 * generated with other options or an older generator. Generation writes into a temporary folder
 * renamed into place, so a crash or a concurrent process never leaves a half-written dataset
 * behind. `annotations` counts are -1 when the cache was reused.
 */
export function ensureSyntheticDataset(
  options: EnsureDatasetOptions & { name: string; dataset: DatasetOptions },
): Promise<SyntheticDatasetPaths> {
  const cacheDir = options.cacheDir ? resolve(options.cacheDir) : defaultCacheDir(options.env);
  // Calls in one process share a generation; other processes are handled by the rename.
  const key = `${join(cacheDir, options.name)}\n${JSON.stringify(options.dataset)}`;
  let pending = inFlight.get(key);
  if (!pending) {
    pending = ensureInCache(cacheDir, options.name, options.dataset).finally(() =>
      inFlight.delete(key),
    );
    inFlight.set(key, pending);
  }
  return pending;
}

const inFlight = new Map<string, Promise<SyntheticDatasetPaths>>();

async function ensureInCache(
  cacheDir: string,
  name: string,
  dataset: DatasetOptions,
): Promise<SyntheticDatasetPaths> {
  const options = { name, dataset };
  if (!/^[\w.-]+$/.test(options.name) || options.name.startsWith('.')) {
    throw new Error(
      `ensureSyntheticDataset: name must be a plain folder name, got '${options.name}'`,
    );
  }
  const root = join(cacheDir, options.name);
  const readManifestOf = (folder: string) => readManifest(folder, options.dataset);
  const existing = await readManifestOf(root);
  if (existing) return pathsOf(root, existing);

  const temporary = `${root}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const generated = await generateSyntheticDataset({ ...options.dataset, outDir: temporary });
    if (existsSync(root)) {
      // Either stale (wrong version) or written by a concurrent process meanwhile.
      const raced = await readManifestOf(root);
      if (raced) return pathsOf(root, raced);
      const stale = `${root}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
      await rename(root, stale);
      await rm(stale, { recursive: true, force: true });
    }
    try {
      await rename(temporary, root);
    } catch (error) {
      const raced = await readManifestOf(root);
      if (raced) return pathsOf(root, raced);
      throw error;
    }
    const relocate = (path: string) => join(root, path.slice(temporary.length + 1));
    return {
      root,
      train: {
        ...generated.train,
        annotationFile: relocate(generated.train.annotationFile),
        imageRoot: relocate(generated.train.imageRoot),
      },
      val: {
        ...generated.val,
        annotationFile: relocate(generated.val.annotationFile),
        imageRoot: relocate(generated.val.imageRoot),
      },
      manifestFile: relocate(generated.manifestFile),
    };
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}
