import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { CocoAnnotation, CocoCategory, CocoImage, CocoInstances } from '../coco-format';
import {
  defaultRenderOptions,
  type RenderOptions,
  renderSyntheticImageAt,
  syntheticCategoryNames,
} from './render';

/** Bumped whenever the generator's output for a given seed changes (invalidates caches). */
export const syntheticFormatVersion = 1;

export interface GenerateSyntheticDatasetOptions
  extends Partial<Omit<RenderOptions, 'width' | 'height'>> {
  /** Folder to write into (created; existing files with the same names are overwritten). */
  outDir: string;
  /** Seed: the same seed and options give byte-identical files. Default 0. */
  seed?: number;
  /** Number of training images. Default 1000. */
  trainImages?: number;
  /** Number of validation images. Default 200. */
  valImages?: number;
  /** Image width in pixels. Default 320. */
  width?: number;
  /** Image height in pixels. Default 320. */
  height?: number;
  /** PNG encodes in flight while the next image renders. Default 4. */
  concurrency?: number;
  /**
   * MetaAnchor's "drop" (Table 4): training-split objects whose box falls in this band are
   * written as `iscrowd: 1`, so training ignores them (no loss) while the val split keeps
   * every object. Default: none.
   */
  dropBand?: ShapeBand;
}

/**
 * A band of box shapes: minScale < √(w·h) < maxScale and |ln(w/h)| < maxAbsLogRatio
 * (MetaAnchor §4.1.3 drops 50 < √(hw) < 100, −1 < log(w/h) < 1).
 */
export interface ShapeBand {
  minScale: number;
  maxScale: number;
  maxAbsLogRatio: number;
}

/** Whether an xywh box falls strictly inside the band. */
export function inShapeBand(width: number, height: number, band: ShapeBand): boolean {
  if (!(width > 0 && height > 0)) return false;
  const scale = Math.sqrt(width * height);
  return (
    scale > band.minScale &&
    scale < band.maxScale &&
    Math.abs(Math.log(width / height)) < band.maxAbsLogRatio
  );
}

function validateShapeBand(band: ShapeBand): void {
  const { minScale, maxScale, maxAbsLogRatio } = band;
  if (!(minScale >= 0 && maxScale > minScale && Number.isFinite(maxScale))) {
    throw new Error(
      `generateSyntheticDataset: dropBand needs 0 ≤ minScale < maxScale (finite), got ${minScale}..${maxScale}`,
    );
  }
  if (!(maxAbsLogRatio > 0)) {
    throw new Error(
      `generateSyntheticDataset: dropBand.maxAbsLogRatio must be > 0, got ${maxAbsLogRatio}`,
    );
  }
}

export interface SyntheticSplitPaths {
  /** COCO instances JSON of the split. */
  annotationFile: string;
  /** Folder the `file_name`s of the split are relative to. */
  imageRoot: string;
  images: number;
  annotations: number;
}

export interface SyntheticDatasetPaths {
  root: string;
  train: SyntheticSplitPaths;
  val: SyntheticSplitPaths;
  /** The `manifest.json` recording seed, options and format version. */
  manifestFile: string;
}

export interface SyntheticManifest {
  format: 'det-synth';
  version: number;
  seed: number;
  trainImages: number;
  valImages: number;
  render: RenderOptions;
  /** The training split's dropped band, when there is one. */
  dropBand?: ShapeBand;
}

export const syntheticCategories: CocoCategory[] = syntheticCategoryNames.map((name, index) => ({
  id: index + 1,
  name,
  supercategory: 'shape',
}));

function resolveRenderOptions(options: GenerateSyntheticDatasetOptions): RenderOptions {
  const render: RenderOptions = {
    ...defaultRenderOptions,
    width: options.width ?? 320,
    height: options.height ?? 320,
  };
  for (const key of Object.keys(defaultRenderOptions) as Array<keyof typeof defaultRenderOptions>) {
    if (options[key] !== undefined)
      (render as unknown as Record<string, unknown>)[key] = options[key];
  }
  for (const [field, value] of Object.entries({ width: render.width, height: render.height })) {
    if (!Number.isInteger(value) || value < 16 || value > 8192) {
      throw new Error(
        `generateSyntheticDataset: ${field} must be an integer in [16, 8192], got ${value}`,
      );
    }
  }
  return render;
}

async function generateSplit(
  split: 'train' | 'val',
  count: number,
  seed: number,
  render: RenderOptions,
  outDir: string,
  concurrency: number,
  dropBand?: ShapeBand,
): Promise<SyntheticSplitPaths> {
  const imageRoot = join(outDir, split);
  await mkdir(imageRoot, { recursive: true });
  const images: CocoImage[] = [];
  const annotations: CocoAnnotation[] = [];
  const pending: Array<Promise<unknown>> = [];
  for (let index = 0; index < count; index++) {
    // Each image has its own seed, so any image can be regenerated alone.
    const rendered = renderSyntheticImageAt(render, seed, split, index);
    const imageId = index + 1;
    const fileName = `${String(imageId).padStart(6, '0')}.png`;
    images.push({ id: imageId, file_name: fileName, width: render.width, height: render.height });
    for (const object of rendered.objects) {
      const [x0, y0, x1, y1] = object.box;
      const dropped = dropBand !== undefined && inShapeBand(x1 - x0, y1 - y0, dropBand);
      annotations.push({
        id: annotations.length + 1,
        image_id: imageId,
        category_id: object.category + 1,
        bbox: [x0, y0, x1 - x0, y1 - y0],
        area: object.area,
        iscrowd: dropped ? 1 : object.iscrowd,
      });
    }
    // libvips encodes on its own threads while the next image renders in JS.
    pending.push(
      sharp(rendered.rgb, { raw: { width: render.width, height: render.height, channels: 3 } })
        .png({ compressionLevel: 6, adaptiveFiltering: false })
        .toFile(join(imageRoot, fileName)),
    );
    if (pending.length >= concurrency) await pending.shift();
    // Let sharp start the queued encode before the next image renders.
    else await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(pending);
  const instances: CocoInstances = {
    info: { description: `det-synth ${split} split`, version: String(syntheticFormatVersion) },
    images,
    annotations,
    categories: syntheticCategories,
  };
  const annotationFile = join(outDir, 'annotations', `instances_${split}.json`);
  await mkdir(join(outDir, 'annotations'), { recursive: true });
  await writeFile(annotationFile, JSON.stringify(instances));
  return { annotationFile, imageRoot, images: images.length, annotations: annotations.length };
}

/**
 * Writes a deterministic synthetic detection dataset: PNG images of textured shapes
 * (rectangles, ellipses, triangles, bars, rings) on cluttered backgrounds, with scales from
 * ≈8 px to most of the image and aspect ratios from 1:8 to 8:1, plus COCO instances JSON for a
 * train and a val split.
 *
 * Layout: `train/*.png`, `val/*.png`, `annotations/instances_{train,val}.json`, `manifest.json`.
 */
export async function generateSyntheticDataset(
  options: GenerateSyntheticDatasetOptions,
): Promise<SyntheticDatasetPaths> {
  const seed = options.seed ?? 0;
  const trainImages = options.trainImages ?? 1000;
  const valImages = options.valImages ?? 200;
  for (const [field, value] of Object.entries({ trainImages, valImages })) {
    if (!Number.isInteger(value) || value < 0) {
      throw new Error(
        `generateSyntheticDataset: ${field} must be a non-negative integer, got ${value}`,
      );
    }
  }
  if (!Number.isFinite(seed))
    throw new Error(`generateSyntheticDataset: seed must be finite, got ${seed}`);
  const render = resolveRenderOptions(options);
  if (options.dropBand) validateShapeBand(options.dropBand);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  await mkdir(options.outDir, { recursive: true });
  const train = await generateSplit(
    'train',
    trainImages,
    seed,
    render,
    options.outDir,
    concurrency,
    options.dropBand,
  );
  const val = await generateSplit('val', valImages, seed, render, options.outDir, concurrency);
  const manifest: SyntheticManifest = {
    format: 'det-synth',
    version: syntheticFormatVersion,
    seed,
    trainImages,
    valImages,
    render,
    ...(options.dropBand ? { dropBand: options.dropBand } : {}),
  };
  const manifestFile = join(options.outDir, 'manifest.json');
  await writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return { root: options.outDir, train, val, manifestFile };
}
