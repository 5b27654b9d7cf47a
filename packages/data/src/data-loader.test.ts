import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CocoDataset, loadCocoDataset } from './coco-dataset';
import {
  collateSamples,
  type DetectionBatch,
  DetectionDataLoader,
  disposeBatch,
  type LoaderPosition,
} from './data-loader';
import { boxesToOriginal } from './image-meta';
import { generateSyntheticDataset } from './synthetic/generate';
import { normalize, randomHorizontalFlip, randomResize, type Transform } from './transforms';

let root: string;
let dataset: CocoDataset;

beforeAll(async () => {
  await initBackend();
  root = await mkdtemp(join(tmpdir(), 'det-data-loader-'));
  const paths = await generateSyntheticDataset({
    outDir: root,
    seed: 3,
    trainImages: 10,
    valImages: 0,
    width: 96,
    height: 64,
  });
  dataset = await loadCocoDataset({
    annotationFile: paths.train.annotationFile,
    imageRoot: paths.train.imageRoot,
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const transforms = (): Transform[] => [
  randomResize({
    scales: [
      { shortSide: 48, longSide: 80 },
      { shortSide: 80, longSide: 120 },
    ],
  }),
  randomHorizontalFlip(),
  normalize(),
];

async function collect(
  loader: DetectionDataLoader,
  options: { from?: LoaderPosition; epochs?: number },
) {
  const seen: Array<{
    ids: number[];
    position: LoaderPosition;
    next: LoaderPosition;
    pixels: number[];
    boxes: number[][];
  }> = [];
  for await (const batch of loader.batches(options)) {
    seen.push({
      ids: batch.metas.map((meta) => meta.imageId),
      position: batch.position,
      next: batch.next,
      pixels: Array.from((await batch.images.data()).subarray(0, 16)),
      boxes: await Promise.all(batch.gtBoxes.map(async (boxes) => Array.from(await boxes.data()))),
    });
    disposeBatch(batch);
  }
  return seen;
}

describe('DetectionDataLoader', () => {
  it('yields padded float32 batches with per-image ground truth, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const loader = new DetectionDataLoader({
      records: dataset.records,
      batchSize: 4,
      transforms: transforms(),
      seed: 5,
    });
    expect(loader.batchesPerEpoch).toBe(3);
    const batches: DetectionBatch[] = [];
    for await (const batch of loader.batches()) batches.push(batch);
    expect(batches.map((batch) => batch.images.shape[0])).toEqual([4, 4, 2]);
    let comparedBoxes = 0;
    for (const batch of batches) {
      const [size, height, width, channels] = batch.images.shape;
      expect(batch.images.dtype).toBe('float32');
      expect(channels).toBe(3);
      expect(height % 32).toBe(0);
      expect(width % 32).toBe(0);
      expect(batch.gtBoxes).toHaveLength(size);
      expect(batch.metas).toHaveLength(size);
      batch.metas.forEach((meta, index) => {
        expect(meta.paddedHeight).toBe(height);
        expect(meta.paddedWidth).toBe(width);
        expect(meta.width).toBeLessThanOrEqual(width);
        const labels = batch.gtLabels[index]!;
        expect(labels.dtype).toBe('int32');
        expect(batch.gtBoxes[index]!.shape).toEqual([labels.shape[0], 4]);
        expect(batch.gtIgnoreBoxes[index]!.shape[1]).toBe(4);
      });
      // Predictions on the input map back onto the record's original boxes.
      for (let index = 0; index < size!; index++) {
        const meta = batch.metas[index]!;
        const record = dataset.records.find((candidate) => candidate.imageId === meta.imageId)!;
        const back = boxesToOriginal(Float32Array.from(await batch.gtBoxes[index]!.data()), meta);
        expect(back).toHaveLength(record.boxes.length);
        comparedBoxes += back.length / 4;
        back.forEach((value, offset) => {
          expect(value).toBeCloseTo(record.boxes[offset]!, 3);
        });
      }
      // Padding after normalisation is zero.
      const meta = batch.metas[0]!;
      if (meta.width < width) {
        const column = batch.images.slice([0, 0, width - 1, 0], [1, 1, 1, 3]);
        expect(Array.from(await column.data())).toEqual([0, 0, 0]);
        column.dispose();
      }
      disposeBatch(batch);
    }
    expect(comparedBoxes).toBe(dataset.records.reduce((sum, r) => sum + r.boxes.length / 4, 0));
    expect(comparedBoxes).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    const seen = new Set(batches.flatMap((batch) => batch.metas.map((meta) => meta.imageId)));
    expect(seen.size).toBe(10);
  });

  it('shuffles deterministically by (seed, epoch) and resumes from a position exactly', async () => {
    const make = (prefetch: number) =>
      new DetectionDataLoader({
        records: dataset.records,
        batchSize: 3,
        transforms: transforms(),
        seed: 9,
        prefetch,
      });
    const full = await collect(make(2), { epochs: 2 });
    expect(full).toHaveLength(8);
    expect(full[3]!.position).toEqual({ epoch: 0, index: 3 });
    expect(full[3]!.next).toEqual({ epoch: 1, index: 0 });
    const epoch0 = full.slice(0, 4).flatMap((batch) => batch.ids);
    const epoch1 = full.slice(4).flatMap((batch) => batch.ids);
    expect(epoch0).not.toEqual(epoch1);
    expect([...epoch0].sort()).toEqual([...epoch1].sort());
    // Same seed, no prefetch: identical batches, augmentation included.
    expect(await collect(make(0), { epochs: 2 })).toEqual(full);
    // Resume after batch 2 of epoch 0.
    const resumed = await collect(make(1), { from: full[1]!.next, epochs: 2 });
    expect(resumed).toEqual(full.slice(2));
    // Another seed shuffles differently.
    const other = new DetectionDataLoader({ records: dataset.records, batchSize: 3, seed: 10 });
    expect(Array.from(other.epochOrder(0))).not.toEqual(Array.from(make(0).epochOrder(0)));
  });

  it('keeps order without shuffle and drops the last partial batch on request', () => {
    const loader = new DetectionDataLoader({
      records: dataset.records,
      batchSize: 4,
      shuffle: false,
      dropLast: true,
    });
    expect(Array.from(loader.epochOrder(3))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(loader.batchesPerEpoch).toBe(2);
  });

  it('disposes nothing it did not hand out when the consumer stops early', async () => {
    const before = tf.memory().numTensors;
    const loader = new DetectionDataLoader({
      records: dataset.records,
      batchSize: 2,
      transforms: transforms(),
      prefetch: 3,
    });
    for await (const batch of loader.batches()) {
      disposeBatch(batch);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reports a decode failure with the file name', async () => {
    const broken = [{ ...dataset.records[0]!, filePath: join(root, 'nope.png') }];
    const loader = new DetectionDataLoader({ records: broken, batchSize: 1 });
    await expect(collect(loader, {})).rejects.toThrow(/nope\.png/);
  });

  it('rejects bad options', () => {
    expect(() => new DetectionDataLoader({ records: [], batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new DetectionDataLoader({ records: [], batchSize: 1, prefetch: -1 })).toThrow(
      /prefetch/,
    );
  });
});

describe('collateSamples', () => {
  it('pads mixed sizes to the batch maximum rounded to the divisor', () => {
    const make = (width: number, height: number, value: number) => ({
      image: { data: new Float32Array(width * height * 3).fill(value), width, height },
      boxes: new Float32Array(0),
      labels: new Int32Array(0),
      ignoreBoxes: new Float32Array(0),
      meta: {
        imageId: value,
        filePath: '',
        originalWidth: width,
        originalHeight: height,
        width,
        height,
        scaleX: 1,
        scaleY: 1,
        flipped: false,
        paddedWidth: width,
        paddedHeight: height,
      },
    });
    const host = collateSamples([make(3, 2, 1), make(2, 5, 2)], { sizeDivisor: 4 });
    expect(host.shape).toEqual([2, 8, 4, 3]);
    expect(host.metas.map((meta) => [meta.paddedWidth, meta.paddedHeight])).toEqual([
      [4, 8],
      [4, 8],
    ]);
    const first = host.images.subarray(0, 8 * 4 * 3);
    expect(first.reduce((sum, value) => sum + value, 0)).toBe(3 * 2 * 3);
    expect(Array.from(first.subarray(9, 12))).toEqual([0, 0, 0]);
    expect(() => collateSamples([])).toThrow(/at least one/);
  });
});
