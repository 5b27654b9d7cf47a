import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCocoDataset } from './coco-dataset';
import { DatasetValidationError, summarizeReport } from './dataset-issues';

let root: string;

/**
 * Runs `body` as a user the permission bits apply to. Root reads every file, so as root
 * (CI containers) the effective uid/gid drop to nobody (65534) for the call and come back
 * after; the temp folder is opened up (0755) so that nobody can reach the other files.
 */
async function asUnprivilegedUser<T>(body: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) return body();
  if (!process.seteuid || !process.setegid) {
    throw new Error('running as root without process.seteuid: cannot test a permission error');
  }
  await chmod(root, 0o755);
  process.setegid(65534);
  process.seteuid(65534);
  try {
    return await body();
  } finally {
    process.seteuid(0);
    process.setegid(0);
  }
}

const categories = [
  { id: 7, name: 'seven', supercategory: 'n' },
  { id: 3, name: 'three', supercategory: 'n' },
];

function validInstances() {
  return {
    images: [
      { id: 1, file_name: 'a.png', width: 40, height: 30 },
      { id: 2, file_name: 'b.png', width: 40, height: 30 },
      { id: 5, file_name: 'c.png', width: 40, height: 30 },
    ],
    annotations: [
      { id: 10, image_id: 1, category_id: 7, bbox: [1, 2, 10, 5], area: 50, iscrowd: 0 },
      { id: 11, image_id: 1, category_id: 3, bbox: [5, 5, 4, 4], area: 16, iscrowd: 0 },
      { id: 12, image_id: 2, category_id: 3, bbox: [0, 0, 20, 20], area: 400, iscrowd: 1 },
    ],
    categories,
  };
}

async function writeDataset(name: string, instances: unknown): Promise<string> {
  const file = join(root, name);
  await writeFile(file, JSON.stringify(instances));
  return file;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'det-data-coco-'));
  const blank = { create: { width: 40, height: 30, channels: 3 as const, background: '#808080' } };
  for (const name of ['a.png', 'b.png', 'c.png']) await sharp(blank).png().toFile(join(root, name));
  await sharp({ create: { ...blank.create, width: 41 } })
    .png()
    .toFile(join(root, 'wide.png'));
  await writeFile(join(root, 'corrupt.png'), 'not a png');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadCocoDataset', () => {
  it('maps category ids to contiguous labels (sorted by id) and crowd boxes to ignore regions', async () => {
    const annotationFile = await writeDataset('valid.json', validInstances());
    const dataset = await loadCocoDataset({ annotationFile, imageRoot: root });
    expect(dataset.categoryIds).toEqual([3, 7]);
    expect(dataset.classNames).toEqual(['three', 'seven']);
    expect(dataset.labelOf(7)).toBe(1);
    expect(dataset.labelOf(99)).toBeUndefined();
    expect(dataset.records.map((record) => record.imageId)).toEqual([1, 2, 5]);
    const [first, second, third] = dataset.records;
    expect(Array.from(first!.boxes)).toEqual([1, 2, 11, 7, 5, 5, 9, 9]);
    expect(Array.from(first!.labels)).toEqual([1, 0]);
    expect(Array.from(first!.annotationIds)).toEqual([10, 11]);
    expect(second!.boxes.length).toBe(0);
    expect(Array.from(second!.ignoreBoxes)).toEqual([0, 0, 20, 20]);
    expect(third!.labels.length).toBe(0);
    expect(first!.filePath).toBe(join(root, 'a.png'));
    expect(dataset.report.issues).toEqual([]);
  });

  it('skips images without annotations on request (crowd-only images count as empty)', async () => {
    const annotationFile = await writeDataset('valid-skip.json', validInstances());
    const dataset = await loadCocoDataset({ annotationFile, imageRoot: root, emptyImages: 'skip' });
    expect(dataset.records.map((record) => record.imageId)).toEqual([1]);
    expect(dataset.report.skippedEmptyImages).toBe(2);
  });

  it('clips boxes partly outside the image and reports them', async () => {
    const instances = validInstances();
    instances.annotations[0]!.bbox = [-3, 20, 50, 15];
    const annotationFile = await writeDataset('clip.json', instances);
    const dataset = await loadCocoDataset({ annotationFile, imageRoot: root });
    expect(Array.from(dataset.records[0]!.boxes.subarray(0, 4))).toEqual([0, 20, 40, 30]);
    expect(dataset.report.clipped).toHaveLength(1);
    expect(dataset.report.clipped[0]).toMatchObject({
      annotationId: 10,
      imageId: 1,
      field: 'bbox',
    });
  });

  type Case = {
    name: string;
    kind: string;
    field: string;
    ids: Record<string, number>;
    message?: RegExp;
    file?: string;
    break: (instances: ReturnType<typeof validInstances>) => void;
    skipped: { images: number; annotations: number };
  };
  const cases: Case[] = [
    {
      name: 'non-finite box',
      kind: 'non-finite-box',
      field: 'bbox[2]',
      ids: { annotationId: 11, imageId: 1 },
      break: (d) => {
        (d.annotations[1]!.bbox as unknown[])[2] = null;
      },
      skipped: { images: 0, annotations: 1 },
    },
    {
      name: 'negative box',
      kind: 'negative-box',
      field: 'bbox[3]',
      ids: { annotationId: 10, imageId: 1 },
      break: (d) => {
        d.annotations[0]!.bbox = [1, 1, 3, -2];
      },
      skipped: { images: 0, annotations: 1 },
    },
    {
      name: 'zero-size box',
      kind: 'zero-size-box',
      field: 'bbox[2]',
      ids: { annotationId: 10, imageId: 1 },
      break: (d) => {
        d.annotations[0]!.bbox = [1, 1, 0, 4];
      },
      skipped: { images: 0, annotations: 1 },
    },
    {
      name: 'box entirely outside the image',
      kind: 'box-outside-image',
      field: 'bbox',
      ids: { annotationId: 10, imageId: 1 },
      break: (d) => {
        d.annotations[0]!.bbox = [45, 1, 3, 4];
      },
      skipped: { images: 0, annotations: 1 },
    },
    {
      name: 'duplicate annotation id',
      kind: 'duplicate-id',
      field: 'id',
      ids: { annotationId: 10 },
      break: (d) => {
        d.annotations[1]!.id = 10;
      },
      skipped: { images: 0, annotations: 1 },
    },
    {
      name: 'duplicate image id',
      kind: 'duplicate-id',
      field: 'id',
      ids: { imageId: 1 },
      break: (d) => {
        d.images[1]!.id = 1;
      },
      // The duplicate is dropped; image 2's crowd annotation then has no image.
      skipped: { images: 1, annotations: 1 },
    },
    {
      name: 'unknown category id',
      kind: 'unknown-category',
      field: 'category_id',
      ids: { annotationId: 11, categoryId: 4 },
      break: (d) => {
        d.annotations[1]!.category_id = 4;
      },
      skipped: { images: 0, annotations: 1 },
    },
    {
      name: 'unknown image id',
      kind: 'unknown-image',
      field: 'image_id',
      ids: { annotationId: 11, imageId: 9 },
      break: (d) => {
        d.annotations[1]!.image_id = 9;
      },
      skipped: { images: 0, annotations: 1 },
    },
    {
      name: 'missing image file',
      kind: 'missing-image-file',
      field: 'file_name',
      ids: { imageId: 1 },
      file: 'gone.png',
      break: (d) => {
        d.images[0]!.file_name = 'gone.png';
      },
      skipped: { images: 1, annotations: 2 },
    },
    {
      name: 'undecodable image file',
      kind: 'unreadable-image-file',
      field: 'file_name',
      ids: { imageId: 2 },
      file: 'corrupt.png',
      break: (d) => {
        d.images[1]!.file_name = 'corrupt.png';
      },
      skipped: { images: 1, annotations: 1 },
    },
    {
      name: 'image size differing from the JSON',
      kind: 'image-size-mismatch',
      field: 'width/height',
      ids: { imageId: 5 },
      file: 'wide.png',
      break: (d) => {
        d.images[2]!.file_name = 'wide.png';
      },
      skipped: { images: 1, annotations: 0 },
    },
    {
      name: 'file_name escaping the image root',
      kind: 'unsafe-file-name',
      field: 'file_name',
      ids: { imageId: 1 },
      message: /outside the image root/,
      break: (d) => {
        d.images[0]!.file_name = '../../etc/passwd';
      },
      // Image 1's annotations then reference an unknown image.
      skipped: { images: 1, annotations: 2 },
    },
    {
      name: 'absolute file_name',
      kind: 'unsafe-file-name',
      field: 'file_name',
      ids: { imageId: 1 },
      break: (d) => {
        d.images[0]!.file_name = '/etc/passwd';
      },
      skipped: { images: 1, annotations: 2 },
    },
    {
      name: 'malformed image entry',
      kind: 'malformed-entry',
      field: 'width',
      ids: { imageId: 5 },
      break: (d) => {
        (d.images[2] as { width: unknown }).width = -4;
      },
      skipped: { images: 1, annotations: 0 },
    },
  ];

  for (const testCase of cases) {
    it(`strict: ${testCase.name} is an error naming file, id and field`, async () => {
      const instances = validInstances();
      testCase.break(instances);
      const annotationFile = await writeDataset(`strict-${testCase.kind}.json`, instances);
      const error = await loadCocoDataset({ annotationFile, imageRoot: root }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(DatasetValidationError);
      const issue = (error as DatasetValidationError).issue;
      expect(issue).toMatchObject({ kind: testCase.kind, field: testCase.field, ...testCase.ids });
      expect(issue.file).toBe(testCase.file ? join(root, testCase.file) : annotationFile);
      expect((error as Error).message).toContain(issue.file);
      expect((error as Error).message).toContain(`'${testCase.field}'`);
      if (testCase.message) expect((error as Error).message).toMatch(testCase.message);
    });

    it(`lenient: ${testCase.name} is skipped and reported`, async () => {
      const instances = validInstances();
      testCase.break(instances);
      const annotationFile = await writeDataset(`lenient-${testCase.kind}.json`, instances);
      const dataset = await loadCocoDataset({ annotationFile, imageRoot: root, policy: 'lenient' });
      expect(dataset.report.issues[0]).toMatchObject({
        kind: testCase.kind,
        field: testCase.field,
        ...testCase.ids,
      });
      expect(dataset.report.countsByKind[testCase.kind as 'duplicate-id']).toBeGreaterThanOrEqual(
        1,
      );
      expect(dataset.report.skippedImages).toBe(testCase.skipped.images);
      expect(dataset.report.skippedAnnotations).toBe(testCase.skipped.annotations);
      expect(summarizeReport(dataset.report)).toContain(testCase.kind);
      const kept = dataset.records.reduce(
        (sum, record) => sum + record.labels.length + record.ignoreBoxes.length / 4,
        0,
      );
      expect(kept).toBe(3 - testCase.skipped.annotations);
    });
  }

  it('reports an unreadable (permission-denied) file, as root too', async () => {
    const file = join(root, 'locked.png');
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#000' } })
      .png()
      .toFile(file);
    await chmod(file, 0);
    const instances = validInstances();
    instances.images[0]!.file_name = 'locked.png';
    const annotationFile = await writeDataset('locked.json', instances);
    const dataset = await asUnprivilegedUser(() =>
      loadCocoDataset({ annotationFile, imageRoot: root, policy: 'lenient' }),
    );
    expect(dataset.report.issues[0]).toMatchObject({ kind: 'unreadable-image-file', imageId: 1 });
  });

  it('names the file when the JSON itself is broken', async () => {
    const annotationFile = join(root, 'broken.json');
    await writeFile(annotationFile, '{"images": [');
    await expect(loadCocoDataset({ annotationFile, imageRoot: root })).rejects.toThrow(
      annotationFile,
    );
    const noImages = await writeDataset('no-images.json', { categories: [] });
    await expect(loadCocoDataset({ annotationFile: noImages, imageRoot: root })).rejects.toThrow(
      /'images'/,
    );
  });

  it('reads an empty dataset', async () => {
    const annotationFile = await writeDataset('empty.json', {
      images: [],
      annotations: [],
      categories: [],
    });
    const dataset = await loadCocoDataset({ annotationFile, imageRoot: root });
    expect(dataset.records).toEqual([]);
    expect(dataset.categoryIds).toEqual([]);
  });
});
