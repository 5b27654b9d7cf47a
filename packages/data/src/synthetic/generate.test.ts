import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSynthCli, shapeBand } from '../cli-program';
import { loadCocoDataset } from '../coco-dataset';
import type { CocoInstances } from '../coco-format';
import { decodeImage } from '../decode-image';
import { generateSyntheticDataset, inShapeBand, type SyntheticDatasetPaths } from './generate';

let root: string;
let paths: SyntheticDatasetPaths;

async function hashFolder(folder: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(folder, { recursive: true })).sort()) {
    if (!name.endsWith('.png') && !name.endsWith('.json')) continue;
    hash.update(name);
    hash.update(await readFile(join(folder, name)));
  }
  return hash.digest('hex');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'det-data-synth-'));
  paths = await generateSyntheticDataset({
    outDir: join(root, 'a'),
    seed: 1,
    trainImages: 30,
    valImages: 8,
    width: 160,
    height: 128,
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('generateSyntheticDataset', () => {
  it('writes standard COCO JSON that the reader re-reads identically (strict, headers checked)', async () => {
    for (const split of [paths.train, paths.val]) {
      const json = JSON.parse(await readFile(split.annotationFile, 'utf8')) as CocoInstances;
      expect(Object.keys(json.images[0]!).sort()).toEqual(['file_name', 'height', 'id', 'width']);
      expect(Object.keys(json.annotations[0]!).sort()).toEqual([
        'area',
        'bbox',
        'category_id',
        'id',
        'image_id',
        'iscrowd',
      ]);
      expect(json.categories.map((category) => category.name)).toEqual([
        'rectangle',
        'ellipse',
        'triangle',
        'bar',
        'ring',
      ]);
      expect(json.categories.every((category) => category.supercategory === 'shape')).toBe(true);
      const dataset = await loadCocoDataset({
        annotationFile: split.annotationFile,
        imageRoot: split.imageRoot,
      });
      expect(dataset.report.issues).toEqual([]);
      expect(dataset.report.clipped).toEqual([]);
      expect(dataset.records).toHaveLength(json.images.length);
      for (const record of dataset.records) {
        const own = json.annotations.filter((annotation) => annotation.image_id === record.imageId);
        const plain = own.filter((annotation) => annotation.iscrowd === 0);
        const crowd = own.filter((annotation) => annotation.iscrowd === 1);
        expect(Array.from(record.boxes)).toEqual(
          plain.flatMap(({ bbox: [x, y, w, h] }) => [x, y, x + w, y + h]),
        );
        expect(Array.from(record.labels)).toEqual(
          plain.map((annotation) => annotation.category_id - 1),
        );
        expect(Array.from(record.annotationIds)).toEqual(plain.map((annotation) => annotation.id));
        expect(Array.from(record.ignoreBoxes)).toEqual(
          crowd.flatMap(({ bbox: [x, y, w, h] }) => [x, y, x + w, y + h]),
        );
      }
      expect(split.annotations).toBe(json.annotations.length);
    }
  });

  it('writes real PNGs of the declared size', async () => {
    const image = await decodeImage(join(paths.train.imageRoot, '000001.png'));
    expect([image.width, image.height]).toEqual([160, 128]);
  });

  it('is byte-identical for a seed, and differs for another seed', async () => {
    const again = await generateSyntheticDataset({
      outDir: join(root, 'b'),
      seed: 1,
      trainImages: 30,
      valImages: 8,
      width: 160,
      height: 128,
    });
    expect(await hashFolder(again.root)).toBe(await hashFolder(paths.root));
    const other = await generateSyntheticDataset({
      outDir: join(root, 'c'),
      seed: 2,
      trainImages: 30,
      valImages: 8,
      width: 160,
      height: 128,
    });
    expect(await hashFolder(other.root)).not.toBe(await hashFolder(paths.root));
  });

  it('rejects bad options with the field name', async () => {
    await expect(generateSyntheticDataset({ outDir: join(root, 'd'), width: 3 })).rejects.toThrow(
      /width/,
    );
    await expect(
      generateSyntheticDataset({ outDir: join(root, 'd'), trainImages: -1 }),
    ).rejects.toThrow(/trainImages/);
  });
});

describe('det-synth CLI', () => {
  it('writes a dataset with --out and --seed', async () => {
    const lines: string[] = [];
    const out = join(root, 'cli');
    await runSynthCli(
      [
        'node',
        'det-synth',
        '--out',
        out,
        '--seed',
        '1',
        '--train',
        '4',
        '--val',
        '2',
        '--width',
        '64',
        '--height',
        '64',
      ],
      {
        log: (line) => lines.push(line),
      },
    );
    expect(lines[0]).toMatch(/wrote/);
    const dataset = await loadCocoDataset({
      annotationFile: join(out, 'annotations', 'instances_val.json'),
      imageRoot: join(out, 'val'),
    });
    expect(dataset.records).toHaveLength(2);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'det-synth', seed: 1, trainImages: 4, valImages: 2 });
  });

  it('rejects a bad number', async () => {
    await expect(
      runSynthCli(['node', 'det-synth', '--out', root, '--seed', 'x'], { log: () => undefined }),
    ).rejects.toThrow(/--seed/);
  });
});

describe('dropBand (MetaAnchor Table 4 "drop")', () => {
  it('marks training objects inside the band iscrowd and leaves val and the rest untouched', async () => {
    const band = { minScale: 20, maxScale: 60, maxAbsLogRatio: 1 };
    const dropped = await generateSyntheticDataset({
      outDir: join(root, 'drop'),
      seed: 1,
      trainImages: 30,
      valImages: 8,
      width: 160,
      height: 128,
      dropBand: band,
    });
    const read = async (file: string) =>
      (JSON.parse(await readFile(file, 'utf8')) as CocoInstances).annotations;
    const [plainTrain, dropTrain] = [
      await read(paths.train.annotationFile),
      await read(dropped.train.annotationFile),
    ];
    expect(dropTrain.map((a) => a.bbox)).toEqual(plainTrain.map((a) => a.bbox));
    let changed = 0;
    for (const [index, annotation] of dropTrain.entries()) {
      const [, , w, h] = annotation.bbox;
      const inside = inShapeBand(w, h, band);
      expect(annotation.iscrowd).toBe(inside ? 1 : plainTrain[index]!.iscrowd);
      if (inside && plainTrain[index]!.iscrowd === 0) changed += 1;
    }
    expect(changed).toBeGreaterThan(0);
    expect(await read(dropped.val.annotationFile)).toEqual(await read(paths.val.annotationFile));
    const manifest = JSON.parse(await readFile(dropped.manifestFile, 'utf8'));
    expect(manifest.dropBand).toEqual(band);
  });

  it('tests the band strictly and refuses an empty or inverted one, naming the field', async () => {
    const band = { minScale: 50, maxScale: 100, maxAbsLogRatio: 1 };
    expect(inShapeBand(70, 70, band)).toBe(true);
    expect(inShapeBand(50, 50, band)).toBe(false);
    expect(inShapeBand(150, 40, band)).toBe(false); // ln(3.75) > 1
    expect(inShapeBand(0, 70, band)).toBe(false);
    await expect(
      generateSyntheticDataset({
        outDir: join(root, 'bad'),
        trainImages: 1,
        valImages: 0,
        dropBand: { minScale: 100, maxScale: 50, maxAbsLogRatio: 1 },
      }),
    ).rejects.toThrow(/dropBand.*100\.\.50/);
    expect(() => shapeBand('50:100')).toThrow(/--drop-band.*'50:100'/);
    expect(shapeBand('50:100:1')).toEqual(band);
  });
});
