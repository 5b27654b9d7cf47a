import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCocoDataset } from '../coco-dataset';
import { defaultCacheDir, ensureSyntheticDataset } from './default-dataset';

let cacheDir: string;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'det-data-cache-'));
});

afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

// The default itself (1200 images) is generated and timed by the benchmark, not here.
const small = { seed: 4, trainImages: 12, valImages: 3, width: 64, height: 48 };

describe('ensureSyntheticDataset', () => {
  it('generates once, atomically, then reuses it', async () => {
    const [first, concurrent] = await Promise.all([
      ensureSyntheticDataset({ env: { DET_CACHE_DIR: cacheDir }, name: 'small', dataset: small }),
      ensureSyntheticDataset({ cacheDir, name: 'small', dataset: small }),
    ]);
    expect(first.root).toBe(join(cacheDir, 'small'));
    expect(concurrent.root).toBe(first.root);
    // Only the final folder is left: no temporary or stale copies.
    expect(await readdir(cacheDir)).toEqual(['small']);
    // The concurrent calls shared one generation, which counted its annotations.
    expect(first.train.annotations).toBeGreaterThan(0);
    expect(concurrent.train.annotations).toBe(first.train.annotations);
    // A second call reuses the cache: -1 says nothing was generated (speed: see bench/).
    const again = await ensureSyntheticDataset({ cacheDir, name: 'small', dataset: small });
    expect(again.train.annotations).toBe(-1);
    expect(again.val.annotations).toBe(-1);
    expect(again.train.annotationFile).toBe(first.train.annotationFile);
    const train = await loadCocoDataset({
      annotationFile: again.train.annotationFile,
      imageRoot: again.train.imageRoot,
      checkImages: 'exists',
    });
    const val = await loadCocoDataset({
      annotationFile: again.val.annotationFile,
      imageRoot: again.val.imageRoot,
      checkImages: 'exists',
    });
    expect(train.records).toHaveLength(12);
    expect(val.records).toHaveLength(3);
    expect(train.classNames).toEqual(['rectangle', 'ellipse', 'triangle', 'bar', 'ring']);
  });

  it('regenerates when the options differ', async () => {
    const changed = await ensureSyntheticDataset({
      cacheDir,
      name: 'small',
      dataset: { ...small, trainImages: 5 },
    });
    // Generated afresh (a reused cache reports -1), replacing the 12-image one in place.
    expect(changed.train.annotations).toBeGreaterThan(0);
    expect(await readdir(cacheDir)).toEqual(['small']);
    const train = await loadCocoDataset({
      annotationFile: changed.train.annotationFile,
      imageRoot: changed.train.imageRoot,
      checkImages: 'exists',
    });
    expect(train.records).toHaveLength(5);
    await expect(
      ensureSyntheticDataset({ cacheDir, name: '../x', dataset: small }),
    ).rejects.toThrow(/name/);
  });

  it('resolves the cache folder from DET_CACHE_DIR, else the workspace root', () => {
    expect(defaultCacheDir({ DET_CACHE_DIR: '/tmp/x' })).toBe('/tmp/x');
    expect(defaultCacheDir({})).toMatch(/\.cache$/);
    expect(defaultCacheDir({})).not.toContain('packages');
  });
});
