import { readFile } from 'node:fs/promises';
import {
  type CocoDataset,
  DetectionDataLoader,
  disposeBatch,
  ensureDefaultDataset,
  type LoaderPosition,
  loadCocoDataset,
  normalize,
} from '@det/data';
import {
  type DetectorBatch,
  type ProposalsByImage,
  proposalsForBatch,
  toDetectorBatch,
} from '@det/detectors';
import { readProposalsFile } from '@det/detectors/node';
import type { JsonValue, TrainingData } from '@det/train';
import type { DataConfig } from './run-config';

export interface LoadedSplit {
  dataset: CocoDataset;
  /** The split's COCO JSON, restricted to the loaded images (for evaluation). */
  groundTruthJson: { images: { id: number }[]; annotations: { image_id: number }[] };
}

async function splitFiles(
  spec: DataConfig['train'],
  split: 'train' | 'val',
): Promise<{ annotationFile: string; imageRoot: string }> {
  if (spec !== 'synthetic') return spec;
  const paths = await ensureDefaultDataset();
  return paths[split];
}

/**
 * Loads a split (the embedded synthetic set or COCO files). Strict by default: the first
 * problem (malformed JSON with its position, a missing or undecodable image with its id, a
 * `file_name` escaping the image root) throws naming the file; `lenient` skips and counts.
 */
export async function loadSplit(
  data: DataConfig,
  split: 'train' | 'val',
  limit?: number,
): Promise<LoadedSplit> {
  const files = await splitFiles(data[split], split);
  const dataset = await loadCocoDataset({
    ...files,
    policy: data.lenient ? 'lenient' : 'strict',
  });
  if (limit !== undefined && dataset.records.length > limit)
    dataset.records = dataset.records.slice(0, limit);
  const json = JSON.parse(
    await readFile(files.annotationFile, 'utf8'),
  ) as LoadedSplit['groundTruthJson'];
  const kept = new Set(dataset.records.map((record) => record.imageId));
  json.images = json.images.filter((image) => kept.has(image.id));
  json.annotations = json.annotations.filter((annotation) => kept.has(annotation.image_id));
  return { dataset, groundTruthJson: json };
}

/** Number of classes of the training split (what presets are built with). */
export async function numClassesOf(data: DataConfig): Promise<number> {
  const files = await splitFiles(data.train, 'train');
  let json: { categories?: unknown[] };
  try {
    json = JSON.parse(await readFile(files.annotationFile, 'utf8')) as { categories?: unknown[] };
  } catch (error) {
    // loadSplit reports the precise problem (file and position); keep this one short.
    throw new Error(`${files.annotationFile}: ${(error as Error).message}`);
  }
  return Array.isArray(json.categories) ? Math.max(json.categories.length, 1) : 1;
}

/**
 * The precomputed proposals of a split from a COCO-results-style file (`readProposalsFile`):
 * a missing or malformed file or an image of the split without proposals is an error naming
 * the file, the image id (and file name) and the field. `strict` (det-finetune's files, one
 * per split, from a proposal network that clips to the image): an image id that is not in the
 * split, or a box reaching more than a pixel outside its image, is an error too (a file of
 * another split, dataset or resolution); otherwise such entries are kept (one file for two
 * splits, hand-made proposals).
 */
export function loadSplitProposals(
  file: string,
  split: Pick<LoadedSplit, 'dataset'>,
  /** What the images are, for errors: 'the train split', 'the input images'. */
  where: string,
  options: { strict?: boolean } = {},
): ProposalsByImage {
  const proposals = readProposalsFile(file);
  const records = split.dataset.records;
  const missing = records.filter((record) => !proposals.has(record.imageId));
  if (missing.length > 0) {
    const first = missing[0]!;
    throw new Error(
      `${file}: no proposals for image id ${first.imageId} ('${first.fileName}') of ${where}` +
        (missing.length > 1
          ? ` (${missing.length} of its ${records.length} images have none)`
          : ''),
    );
  }
  if (options.strict) {
    const known = new Set(records.map((record) => record.imageId));
    const unknown = [...proposals.keys()].filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new Error(
        `${file}: field 'image_id' ${unknown[0]} is not an image of ${where}` +
          (unknown.length > 1 ? ` (${unknown.length} unknown image ids)` : '') +
          ' (proposals of another split or dataset?)',
      );
    }
  }
  if (!options.strict) return proposals;
  // Proposal networks clip to the image; a box well outside it means another image size.
  const tolerance = 1;
  for (const record of records) {
    const boxes = proposals.get(record.imageId)!;
    for (let i = 0; i < boxes.length; i += 4) {
      const [x1, y1, x2, y2] = [boxes[i]!, boxes[i + 1]!, boxes[i + 2]!, boxes[i + 3]!];
      if (
        x1 < -tolerance ||
        y1 < -tolerance ||
        x2 > record.width + tolerance ||
        y2 > record.height + tolerance
      ) {
        throw new Error(
          `${file}: image id ${record.imageId} ('${record.fileName}'): field 'bbox' [${x1}, ${y1}, ${x2 - x1}, ${y2 - y1}] reaches outside the ${record.width}×${record.height} image (proposals of other images or another resolution?)`,
        );
      }
    }
  }
  return proposals;
}

/**
 * The training loader as the engine's data source: endless epochs, deterministic by
 * (seed, epoch, image) and resumable from a `{ epoch, index }` position; decoding runs ahead
 * (prefetch) while the step computes. `proposals` (Fast R-CNN) go with each batch in input
 * pixels.
 */
export function trainingData(
  dataset: CocoDataset,
  options: { batchSize: number; seed: number; proposals?: ProposalsByImage | undefined },
): TrainingData<DetectorBatch> {
  const { proposals } = options;
  const loader = new DetectionDataLoader({
    records: dataset.records,
    batchSize: options.batchSize,
    transforms: [normalize()],
    seed: options.seed,
  });
  if (loader.batchesPerEpoch === 0)
    throw new Error(`${dataset.annotationFile}: no training images`);
  return {
    async *batches(from: JsonValue | undefined) {
      let position = (from as LoaderPosition | null | undefined) ?? { epoch: 0, index: 0 };
      for (;;) {
        for await (const batch of loader.batches({ from: position, epochs: 1 })) {
          position = batch.next;
          yield {
            batch: toDetectorBatch(
              batch,
              proposals ? proposalsForBatch(proposals, batch.metas) : undefined,
            ),
            next: batch.next as unknown as JsonValue,
            size: batch.metas.length,
            dispose: () => disposeBatch(batch),
          };
        }
      }
    },
  };
}

/** Unshuffled batches of a split for prediction and evaluation. */
export function evaluationLoader(dataset: CocoDataset, batchSize = 4): DetectionDataLoader {
  return new DetectionDataLoader({
    records: dataset.records,
    batchSize,
    transforms: [normalize()],
    shuffle: false,
  });
}
