import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CocoResult } from '@det/coco-eval';
import { disposeBatch } from '@det/data';
import { type Detector, guidedAnchorFunctionOf, metaAnchorFunctionOf } from '@det/detectors';
import { writeGuidedAnchoringDiagnostics } from '@det/detectors/node';
import { evaluationLoader, type LoadedSplit } from './datasets';
import { drawRecords, tileGrid } from './draw';
import { runPaths } from './run-folder';

/**
 * The report's pictures of a trained model: a grid of validation images with predictions
 * and ground truth, GA location maps and shape histograms (GA kinds), and the anchor shapes
 * of MetaAnchor's inference set against the ground truth (MetaAnchor).
 */
export async function writeModelPictures(options: {
  directory: string;
  detector: Detector;
  split: LoadedSplit;
  results: readonly CocoResult[];
  images: number;
}): Promise<void> {
  const paths = runPaths(options.directory);
  await mkdir(paths.plots, { recursive: true });
  const records = options.split.dataset.records.slice(0, options.images);
  if (records.length > 0) {
    const tiles = await drawRecords({
      records,
      results: options.results,
      categoryIds: options.split.dataset.categoryIds,
      classNames: options.split.dataset.classNames,
      minScore: 0.3,
      outputWidth: 256,
    });
    await writeFile(
      join(paths.plots, 'val-grid.png'),
      await tileGrid(tiles, Math.min(4, tiles.length)),
    );
  }
  if (guidedAnchorFunctionOf(options.detector) && records.length > 0) {
    const loader = evaluationLoader({ ...options.split.dataset, records: records.slice(0, 2) }, 2);
    for await (const batch of loader.batches()) {
      try {
        await writeGuidedAnchoringDiagnostics(
          options.detector,
          batch,
          join(paths.plots, 'guided-anchoring'),
          { images: batch.metas.map((meta) => meta.filePath) },
        );
      } finally {
        disposeBatch(batch);
      }
    }
  }
  const meta = metaAnchorFunctionOf(options.detector);
  if (meta) {
    const rows: { series: string; 'log2 aspect ratio': number; 'log2 size': number }[] = [];
    for (const [logHeight, logWidth] of meta.inferenceAnchorCodes) {
      rows.push({
        series: 'inference anchors (relative to the standard box)',
        'log2 aspect ratio': (logHeight - logWidth) / Math.LN2,
        'log2 size': (logHeight + logWidth) / 2 / Math.LN2,
      });
    }
    for (const record of options.split.dataset.records) {
      for (let i = 0; i < record.boxes.length / 4; i++) {
        const width = record.boxes[i * 4 + 2]! - record.boxes[i * 4]!;
        const height = record.boxes[i * 4 + 3]! - record.boxes[i * 4 + 1]!;
        if (width <= 0 || height <= 0) continue;
        rows.push({
          series: 'ground truth (pixels)',
          'log2 aspect ratio': Math.log2(height / width),
          'log2 size': Math.log2(Math.sqrt(width * height)),
        });
      }
    }
    await writeFile(
      join(paths.plots, 'anchor-shapes.json'),
      JSON.stringify({ source: 'MetaAnchor inference anchors vs validation ground truth', rows }),
    );
  }
}
