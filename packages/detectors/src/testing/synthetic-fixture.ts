import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CocoDataset, generateSyntheticDataset, loadCocoDataset } from '@det/data';

/** A small synthetic dataset written to a temporary folder (tests and benches only). */
export async function smallSyntheticDataset(options: {
  images: number;
  size: number;
  seed?: number;
  maxObjectsPerImage?: number;
}): Promise<{ dataset: CocoDataset; groundTruthJson: unknown }> {
  const outDir = await mkdtemp(join(tmpdir(), 'det-detectors-'));
  const paths = await generateSyntheticDataset({
    outDir,
    seed: options.seed ?? 1,
    trainImages: options.images,
    valImages: 1,
    width: options.size,
    height: options.size,
    minObjectScale: 16,
    maxObjectsPerImage: options.maxObjectsPerImage ?? 3,
    emptyImageProbability: 0,
    crowdImageProbability: 0,
  });
  const dataset = await loadCocoDataset({
    annotationFile: paths.train.annotationFile,
    imageRoot: paths.train.imageRoot,
  });
  const groundTruthJson = JSON.parse(await readFile(paths.train.annotationFile, 'utf8')) as unknown;
  return { dataset, groundTruthJson };
}
