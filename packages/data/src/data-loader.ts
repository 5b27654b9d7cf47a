import * as tf from '@tensorflow/tfjs-core';
import type { DetectionRecord } from './coco-dataset';
import { decodeImage } from './decode-image';
import { type ImageMeta, initialImageMeta } from './image-meta';
import { createRandom, deriveSeed, permutation } from './random';
import { applyTransforms, padImage, type Sample, type Transform } from './transforms';

/** Where a loader stands: the next batch it yields is batch `index` of epoch `epoch`. */
export interface LoaderPosition {
  epoch: number;
  index: number;
}

/** A batch on the host: plain typed arrays, no tensors (cheap to prefetch, nothing to leak). */
export interface HostBatch {
  /** [B·H·W·3] float32, images top-left aligned, zero-padded. */
  images: Float32Array;
  shape: [number, number, number, number];
  gtBoxes: Float32Array[];
  gtLabels: Int32Array[];
  gtIgnoreBoxes: Float32Array[];
  metas: ImageMeta[];
}

/**
 * A batch of tensors. The consumer owns every tensor in it and must dispose them, e.g. with
 * `disposeBatch(batch)` once the training step is done.
 */
export interface DetectionBatch {
  /** [B, H, W, 3] float32, normalised by the transforms, zero-padded per batch. */
  images: tf.Tensor4D;
  /** Per image [N, 4] xyxy in the input (resized, flipped) image's coordinates. */
  gtBoxes: tf.Tensor2D[];
  /** Per image [N] int32 contiguous labels 0..K-1. */
  gtLabels: tf.Tensor1D[];
  /** Per image [M, 4] xyxy regions the losses ignore (crowd and dropped boxes). */
  gtIgnoreBoxes: tf.Tensor2D[];
  metas: ImageMeta[];
  /** Position of this batch. */
  position: LoaderPosition;
  /** Position to resume from after this batch (store it in a checkpoint). */
  next: LoaderPosition;
}

export function disposeBatch(batch: DetectionBatch): void {
  tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
}

function roundUp(value: number, divisor: number): number {
  return Math.ceil(value / divisor) * divisor;
}

/**
 * Stacks samples into one zero-padded float32 buffer whose height and width are the batch
 * maxima rounded up to `sizeDivisor`; each meta's padded size is set to the batch's.
 */
export function collateSamples(
  samples: readonly Sample[],
  options: { sizeDivisor?: number } = {},
): HostBatch {
  const divisor = options.sizeDivisor ?? 1;
  if (samples.length === 0) throw new Error('collateSamples: a batch needs at least one sample');
  const height = roundUp(Math.max(...samples.map((sample) => sample.image.height)), divisor);
  const width = roundUp(Math.max(...samples.map((sample) => sample.image.width)), divisor);
  const imageLength = height * width * 3;
  const images = new Float32Array(samples.length * imageLength);
  samples.forEach((sample, index) => {
    images.set(padImage(sample.image, width, height).data, index * imageLength);
  });
  return {
    images,
    shape: [samples.length, height, width, 3],
    gtBoxes: samples.map((sample) => sample.boxes),
    gtLabels: samples.map((sample) => sample.labels),
    gtIgnoreBoxes: samples.map((sample) => sample.ignoreBoxes),
    metas: samples.map((sample) => ({ ...sample.meta, paddedWidth: width, paddedHeight: height })),
  };
}

/** Turns a host batch into tensors; the caller owns them. */
export function hostBatchToTensors(
  host: HostBatch,
  position: LoaderPosition,
  next: LoaderPosition,
): DetectionBatch {
  return {
    images: tf.tensor4d(host.images, host.shape, 'float32'),
    gtBoxes: host.gtBoxes.map((boxes) => tf.tensor2d(boxes, [boxes.length / 4, 4], 'float32')),
    gtLabels: host.gtLabels.map((labels) => tf.tensor1d(labels, 'int32')),
    gtIgnoreBoxes: host.gtIgnoreBoxes.map((boxes) =>
      tf.tensor2d(boxes, [boxes.length / 4, 4], 'float32'),
    ),
    metas: host.metas,
    position,
    next,
  };
}

/** Decodes a record into a sample in original coordinates. */
export async function loadSample(record: DetectionRecord): Promise<Sample> {
  const image = await decodeImage(record.filePath);
  if (image.width !== record.width || image.height !== record.height) {
    throw new Error(
      `${record.filePath}: image ${record.imageId} decodes to ${image.width}×${image.height}, the annotations say ${record.width}×${record.height}`,
    );
  }
  return {
    image,
    boxes: record.boxes,
    labels: record.labels,
    ignoreBoxes: record.ignoreBoxes,
    meta: initialImageMeta(record.imageId, record.filePath, record.width, record.height),
  };
}

export interface DataLoaderOptions {
  records: readonly DetectionRecord[];
  batchSize: number;
  /** Applied per image in order, e.g. resize → flip → normalize → (drop) ; see `transforms`. */
  transforms?: readonly Transform[];
  /** Shuffle per epoch with a permutation seeded by (seed, epoch). Default true. */
  shuffle?: boolean;
  /** Seeds the shuffle and every augmentation. Default 0. */
  seed?: number;
  /** Batches prepared ahead while the consumer works. Default 2; 0 loads on demand. */
  prefetch?: number;
  /** Leave out the last incomplete batch of an epoch. Default false. */
  dropLast?: boolean;
  /** Batch height/width are rounded up to a multiple of this. Default 32. */
  sizeDivisor?: number;
  /** Overrides how a record becomes a sample (default: decode the file with sharp). */
  load?: (record: DetectionRecord) => Promise<Sample>;
}

/**
 * Batches detection records: deterministic shuffle by (seed, epoch), augmentation seeded by
 * (seed, epoch, image), prefetch of the next batches as host typed arrays (decoding runs on
 * libvips threads while the training step runs), tensors created only when a batch is handed
 * out, and a resumable `LoaderPosition`.
 */
export class DetectionDataLoader {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  private readonly records: readonly DetectionRecord[];
  private readonly transforms: readonly Transform[];
  private readonly shuffle: boolean;
  private readonly seed: number;
  private readonly prefetch: number;
  private readonly sizeDivisor: number;
  private readonly load: (record: DetectionRecord) => Promise<Sample>;

  constructor(options: DataLoaderOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new Error(
        `DetectionDataLoader: batchSize must be a positive integer, got ${options.batchSize}`,
      );
    }
    const prefetch = options.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 0) {
      throw new Error(
        `DetectionDataLoader: prefetch must be a non-negative integer, got ${prefetch}`,
      );
    }
    this.records = options.records;
    this.batchSize = options.batchSize;
    this.transforms = options.transforms ?? [];
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.prefetch = prefetch;
    this.sizeDivisor = options.sizeDivisor ?? 32;
    this.load = options.load ?? loadSample;
    const full = Math.floor(this.records.length / this.batchSize);
    this.batchesPerEpoch =
      options.dropLast || this.records.length % this.batchSize === 0 ? full : full + 1;
  }

  /** Record indices of an epoch, in the order they are batched. */
  epochOrder(epoch: number): Int32Array {
    if (!this.shuffle) return Int32Array.from(this.records, (_, index) => index);
    return permutation(this.records.length, createRandom(deriveSeed(this.seed, epoch)));
  }

  /** Builds batch `index` of `epoch` on the host. */
  async hostBatch(
    epoch: number,
    index: number,
    order = this.epochOrder(epoch),
  ): Promise<HostBatch> {
    const start = index * this.batchSize;
    const indices = Array.from(
      order.subarray(start, Math.min(start + this.batchSize, order.length)),
    );
    const samples = await Promise.all(
      indices.map(async (recordIndex) => {
        const record = this.records[recordIndex]!;
        const sample = await this.load(record);
        return applyTransforms(
          sample,
          this.transforms,
          createRandom(deriveSeed(this.seed, epoch, record.imageId)),
        );
      }),
    );
    return collateSamples(samples, { sizeDivisor: this.sizeDivisor });
  }

  /**
   * Yields batches from `from` (default epoch 0, batch 0) to the end of that epoch, then on
   * through `epochs` epochs in total (default: only `from.epoch`). Stop early with `break`:
   * prefetched batches hold no tensors.
   */
  async *batches(
    options: { from?: LoaderPosition; epochs?: number } = {},
  ): AsyncGenerator<DetectionBatch, void, undefined> {
    const from = options.from ?? { epoch: 0, index: 0 };
    if (
      !Number.isInteger(from.epoch) ||
      from.epoch < 0 ||
      !Number.isInteger(from.index) ||
      from.index < 0
    ) {
      throw new Error(`DetectionDataLoader: invalid position ${JSON.stringify(from)}`);
    }
    const lastEpoch = from.epoch + (options.epochs ?? 1) - 1;
    const positions: LoaderPosition[] = [];
    for (let epoch = from.epoch; epoch <= lastEpoch; epoch++) {
      for (
        let index = epoch === from.epoch ? from.index : 0;
        index < this.batchesPerEpoch;
        index++
      ) {
        positions.push({ epoch, index });
      }
    }
    const orders = new Map<number, Int32Array>();
    const orderOf = (epoch: number): Int32Array => {
      let order = orders.get(epoch);
      if (!order) {
        order = this.epochOrder(epoch);
        orders.set(epoch, order);
      }
      return order;
    };
    const queue: Array<Promise<HostBatch>> = [];
    const enqueue = (cursor: number): void => {
      const position = positions[cursor];
      if (!position) return;
      const pending = this.hostBatch(position.epoch, position.index, orderOf(position.epoch));
      // Rejections surface when the batch is awaited; this only keeps an abandoned one quiet.
      pending.catch(() => undefined);
      queue.push(pending);
    };
    let scheduled = 0;
    for (let cursor = 0; cursor < positions.length; cursor++) {
      while (scheduled <= cursor + this.prefetch && scheduled < positions.length)
        enqueue(scheduled++);
      const host = await queue.shift()!;
      const position = positions[cursor]!;
      const next =
        position.index + 1 < this.batchesPerEpoch
          ? { epoch: position.epoch, index: position.index + 1 }
          : { epoch: position.epoch + 1, index: 0 };
      yield hostBatchToTensors(host, position, next);
    }
  }
}
