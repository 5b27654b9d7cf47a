import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import sharp from 'sharp';
import type { z } from 'zod';
import {
  type CocoCategory,
  cocoAnnotationSchema,
  cocoCategorySchema,
  cocoImageSchema,
  cocoInstancesSchema,
} from './coco-format';
import {
  type DatasetIssue,
  DatasetValidationError,
  type ValidationPolicy,
  type ValidationReport,
} from './dataset-issues';

/** One image with its ground truth, boxes as flat xyxy in original pixel coordinates. */
export interface DetectionRecord {
  imageId: number;
  fileName: string;
  /** Absolute path of the image file (always inside the image root). */
  filePath: string;
  width: number;
  height: number;
  /** [N·4] xyxy boxes of the non-crowd annotations. */
  boxes: Float32Array;
  /** [N] contiguous labels 0..K-1. */
  labels: Int32Array;
  /** [N] COCO annotation ids of `boxes`. */
  annotationIds: Int32Array;
  /** [M·4] xyxy crowd regions: ignored by the losses, neither positive nor negative. */
  ignoreBoxes: Float32Array;
}

export interface CocoDataset {
  annotationFile: string;
  imageRoot: string;
  records: DetectionRecord[];
  /** Categories sorted by id; label `i` is `categories[i]`. */
  categories: CocoCategory[];
  /** Label → COCO category id. */
  categoryIds: number[];
  /** Label → category name. */
  classNames: string[];
  /** COCO category id → label (undefined for unknown ids). */
  labelOf(categoryId: number): number | undefined;
  report: ValidationReport;
}

export interface LoadCocoDatasetOptions {
  /** Path of the COCO instances JSON. */
  annotationFile: string;
  /** Folder `file_name`s are relative to; a name resolving outside it is refused. */
  imageRoot: string;
  /** `strict` (default): the first problem throws; `lenient`: skip the entry and report. */
  policy?: ValidationPolicy;
  /** Keep (default) or leave out images with no non-crowd annotation. */
  emptyImages?: 'keep' | 'skip';
  /**
   * How image files are checked: `header` (default) opens each with sharp and compares its
   * size with the JSON; `exists` only checks it is readable; `none` trusts the JSON.
   */
  checkImages?: 'header' | 'exists' | 'none';
}

interface RawImage {
  id: number;
  fileName: string;
  filePath: string;
  width: number;
  height: number;
}

interface Collected {
  boxes: number[];
  labels: number[];
  annotationIds: number[];
  ignoreBoxes: number[];
}

function fieldOf(issue: z.core.$ZodIssue): string {
  return issue.path
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : `${index > 0 ? '.' : ''}${String(part)}`,
    )
    .join('');
}

function idOf(entry: unknown): number | undefined {
  if (typeof entry === 'object' && entry !== null && 'id' in entry) {
    const id = (entry as { id: unknown }).id;
    if (typeof id === 'number') return id;
  }
  return undefined;
}

/**
 * Reads a COCO instances JSON into per-image records with contiguous labels (categories
 * sorted by id, as mmdetection's `cat2label` does). Crowd annotations become ignore regions.
 */
export async function loadCocoDataset(options: LoadCocoDatasetOptions): Promise<CocoDataset> {
  const policy = options.policy ?? 'strict';
  const file = resolve(options.annotationFile);
  const imageRoot = resolve(options.imageRoot);
  const report: ValidationReport = {
    policy,
    issues: [],
    clipped: [],
    skippedImages: 0,
    skippedAnnotations: 0,
    skippedEmptyImages: 0,
    countsByKind: {},
  };
  const problem = (issue: DatasetIssue): void => {
    if (policy === 'strict') throw new DatasetValidationError(issue);
    report.issues.push(issue);
    report.countsByKind[issue.kind] = (report.countsByKind[issue.kind] ?? 0) + 1;
  };

  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: cannot read COCO annotations: ${(error as Error).message}`);
  }
  const top = cocoInstancesSchema.safeParse(json);
  if (!top.success) {
    const first = top.error.issues[0]!;
    throw new Error(
      `${file}: not a COCO instances file: field '${fieldOf(first)}': ${first.message}`,
    );
  }

  // Categories.
  const categoriesById = new Map<number, CocoCategory>();
  for (const entry of top.data.categories) {
    const parsed = cocoCategorySchema.safeParse(entry);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      problem({
        kind: 'malformed-entry',
        file,
        categoryId: idOf(entry),
        field: fieldOf(first),
        message: first.message,
      });
      continue;
    }
    const { id, name, supercategory } = parsed.data;
    if (categoriesById.has(id)) {
      problem({
        kind: 'duplicate-id',
        file,
        categoryId: id,
        field: 'id',
        message: `category id ${id} appears more than once`,
      });
      continue;
    }
    categoriesById.set(id, { id, name, supercategory: supercategory ?? '' });
  }
  const categories = [...categoriesById.values()].sort((a, b) => a.id - b.id);
  const labelById = new Map(categories.map((category, label) => [category.id, label]));

  // Images.
  const imagesById = new Map<number, RawImage>();
  const imageOrder: RawImage[] = [];
  for (const entry of top.data.images) {
    const parsed = cocoImageSchema.safeParse(entry);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      problem({
        kind: 'malformed-entry',
        file,
        imageId: idOf(entry),
        field: fieldOf(first),
        message: first.message,
      });
      report.skippedImages++;
      continue;
    }
    const { id, file_name: fileName, width, height } = parsed.data;
    if (imagesById.has(id)) {
      problem({
        kind: 'duplicate-id',
        file,
        imageId: id,
        field: 'id',
        message: `image id ${id} appears more than once`,
      });
      report.skippedImages++;
      continue;
    }
    const filePath = resolve(imageRoot, fileName);
    const fromRoot = relative(imageRoot, filePath);
    if (fromRoot === '' || fromRoot.startsWith('..') || isAbsolute(fromRoot)) {
      problem({
        kind: 'unsafe-file-name',
        file,
        imageId: id,
        field: 'file_name',
        message: `'${fileName}' resolves outside the image root ${imageRoot}; refused`,
      });
      report.skippedImages++;
      continue;
    }
    const image = { id, fileName, filePath, width, height };
    imagesById.set(id, image);
    imageOrder.push(image);
  }

  // Annotations.
  const collected = new Map<number, Collected>();
  const annotationIds = new Set<number>();
  for (const entry of top.data.annotations ?? []) {
    const parsed = cocoAnnotationSchema.safeParse(entry);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      problem({
        kind: 'malformed-entry',
        file,
        annotationId: idOf(entry),
        field: fieldOf(first),
        message: first.message,
      });
      report.skippedAnnotations++;
      continue;
    }
    const { id, image_id: imageId, category_id: categoryId, bbox } = parsed.data;
    const context = { file, annotationId: id, imageId };
    const skip = (issue: Omit<DatasetIssue, 'file' | 'annotationId' | 'imageId'>): void => {
      problem({ ...context, ...issue });
      report.skippedAnnotations++;
    };
    if (annotationIds.has(id)) {
      skip({
        kind: 'duplicate-id',
        field: 'id',
        message: `annotation id ${id} appears more than once`,
      });
      continue;
    }
    annotationIds.add(id);
    const image = imagesById.get(imageId);
    if (!image) {
      skip({ kind: 'unknown-image', field: 'image_id', message: `no image has id ${imageId}` });
      continue;
    }
    const label = labelById.get(categoryId);
    if (label === undefined) {
      skip({
        kind: 'unknown-category',
        categoryId,
        field: 'category_id',
        message: `no category has id ${categoryId}`,
      });
      continue;
    }
    const badIndex = bbox.findIndex(
      (value) => typeof value !== 'number' || !Number.isFinite(value),
    );
    if (badIndex >= 0) {
      skip({
        kind: 'non-finite-box',
        field: `bbox[${badIndex}]`,
        message: `expected a finite number, got ${JSON.stringify(bbox[badIndex]) ?? String(bbox[badIndex])}`,
      });
      continue;
    }
    const [x, y, w, h] = bbox as [number, number, number, number];
    if (w < 0 || h < 0) {
      skip({
        kind: 'negative-box',
        field: w < 0 ? 'bbox[2]' : 'bbox[3]',
        message: `negative size ${w}×${h}`,
      });
      continue;
    }
    if (w === 0 || h === 0) {
      skip({
        kind: 'zero-size-box',
        field: w === 0 ? 'bbox[2]' : 'bbox[3]',
        message: `zero size ${w}×${h}`,
      });
      continue;
    }
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(image.width, x + w);
    const y1 = Math.min(image.height, y + h);
    if (x1 <= x0 || y1 <= y0) {
      skip({
        kind: 'box-outside-image',
        field: 'bbox',
        message: `[${bbox.join(', ')}] lies outside the ${image.width}×${image.height} image`,
      });
      continue;
    }
    if (x0 !== x || y0 !== y || x1 !== x + w || y1 !== y + h) {
      report.clipped.push({
        ...context,
        kind: 'box-outside-image',
        field: 'bbox',
        message: `[${bbox.join(', ')}] clipped to the ${image.width}×${image.height} image`,
      });
    }
    let target = collected.get(imageId);
    if (!target) {
      target = { boxes: [], labels: [], annotationIds: [], ignoreBoxes: [] };
      collected.set(imageId, target);
    }
    const crowd = parsed.data.iscrowd === 1 || parsed.data.iscrowd === true;
    if (crowd) {
      target.ignoreBoxes.push(x0, y0, x1, y1);
    } else {
      target.boxes.push(x0, y0, x1, y1);
      target.labels.push(label);
      target.annotationIds.push(id);
    }
  }

  // Image files, checked concurrently but reported in JSON order.
  const checkImages = options.checkImages ?? 'header';
  const fileProblems: Array<DatasetIssue | undefined> = new Array(imageOrder.length);
  if (checkImages !== 'none') {
    const chunk = 64;
    for (let start = 0; start < imageOrder.length; start += chunk) {
      await Promise.all(
        imageOrder.slice(start, start + chunk).map(async (image, offset) => {
          fileProblems[start + offset] = await checkImageFile(image, checkImages);
        }),
      );
      if (policy === 'strict') {
        const first = fileProblems.slice(start, start + chunk).find((issue) => issue !== undefined);
        if (first) problem(first);
      }
    }
  }

  const records: DetectionRecord[] = [];
  imageOrder.forEach((image, index) => {
    const target = collected.get(image.id);
    const fileProblem = fileProblems[index];
    if (fileProblem) {
      problem(fileProblem);
      report.skippedImages++;
      report.skippedAnnotations += target
        ? target.labels.length + target.ignoreBoxes.length / 4
        : 0;
      return;
    }
    if ((options.emptyImages ?? 'keep') === 'skip' && (!target || target.labels.length === 0)) {
      report.skippedEmptyImages++;
      return;
    }
    records.push({
      imageId: image.id,
      fileName: image.fileName,
      filePath: image.filePath,
      width: image.width,
      height: image.height,
      boxes: Float32Array.from(target?.boxes ?? []),
      labels: Int32Array.from(target?.labels ?? []),
      annotationIds: Int32Array.from(target?.annotationIds ?? []),
      ignoreBoxes: Float32Array.from(target?.ignoreBoxes ?? []),
    });
  });

  return {
    annotationFile: file,
    imageRoot,
    records,
    categories,
    categoryIds: categories.map((category) => category.id),
    classNames: categories.map((category) => category.name),
    labelOf: (categoryId) => labelById.get(categoryId),
    report,
  };
}

async function checkImageFile(
  image: RawImage,
  mode: 'header' | 'exists',
): Promise<DatasetIssue | undefined> {
  const base = { file: image.filePath, imageId: image.id, field: 'file_name' };
  try {
    await access(image.filePath, constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? { ...base, kind: 'missing-image-file', message: `'${image.fileName}' does not exist` }
      : {
          ...base,
          kind: 'unreadable-image-file',
          message: `'${image.fileName}' cannot be read (${code})`,
        };
  }
  if (mode === 'exists') return undefined;
  try {
    const metadata = await sharp(image.filePath).metadata();
    // EXIF orientations 5-8 swap width and height once the image is upright.
    const swap = (metadata.orientation ?? 1) >= 5;
    const width = swap ? metadata.height : metadata.width;
    const height = swap ? metadata.width : metadata.height;
    if (width !== image.width || height !== image.height) {
      return {
        ...base,
        field: 'width/height',
        kind: 'image-size-mismatch',
        message: `JSON says ${image.width}×${image.height}, the file is ${width}×${height}`,
      };
    }
  } catch (error) {
    return {
      ...base,
      kind: 'unreadable-image-file',
      message: `'${image.fileName}' is not a decodable image (${(error as Error).message})`,
    };
  }
  return undefined;
}
