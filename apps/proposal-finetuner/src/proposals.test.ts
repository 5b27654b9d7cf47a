import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { generateSyntheticDataset } from '@det/data';
import { createDetector, presets } from '@det/detectors';
import { type LoadedSplit, loadSplit, loadSplitProposals } from '@det/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { predictProposals, proposalDetectorConfig } from './proposals';
import { mergedFile, mergeShards, shardFile, shardImages, writeShard } from './shards';

describe('proposals of a trained detector', () => {
  let folder: string;
  let split: LoadedSplit;

  beforeAll(async () => {
    await initBackend({ wasmThreads: 1 });
    folder = await mkdtemp(join(tmpdir(), 'det-proposals-'));
    const paths = await generateSyntheticDataset({
      outDir: join(folder, 'data'),
      trainImages: 1,
      valImages: 3,
      width: 64,
      height: 48,
    });
    split = await loadSplit(
      { train: paths.train, val: paths.val, valImages: 200, lenient: false },
      'val',
    );
  });

  it("takes a Faster R-CNN's own RPN (top N) and refuses detectors without proposals", () => {
    const { config, description } = proposalDetectorConfig(presets.tinyFasterRcnn(5), 1000, 'f');
    expect(description).toBe('two-stage rpn (dense): its RPN');
    expect(config).toMatchObject({
      kind: 'single-stage',
      head: { type: 'rpn', testProposals: { maxPerImage: 1000, nmsPre: 1000 } },
    });
    expect(proposalDetectorConfig(presets.tinyGaRpn(), 300, 'g').description).toBe(
      'single-stage rpn (guided)',
    );
    expect(() => proposalDetectorConfig(presets.tinyFastRcnn(5), 300, 'fast.safetensors')).toThrow(
      "fast.safetensors: a two-stage detector with proposals.type 'precomputed' (Fast R-CNN) has no proposal head",
    );
    expect(() => proposalDetectorConfig(presets.tinyRetinaNet(5), 300, 'r')).toThrow(
      "r: a single-stage detector with head.type 'retina' makes detections, not proposals",
    );
  });

  it('gives the same bytes sharded in 2 as in 1 (one image at a time), leaking no tensors', async () => {
    const detector = createDetector(
      proposalDetectorConfig(presets.tinyFasterRcnn(5), 20, 'f').config,
    );
    // A first image fills the head's per-level anchor caches (5 levels); later ones add nothing.
    await predictProposals(detector, split, split.dataset.records.slice(0, 1));
    const before = tf.memory().numTensors;
    const splitImages = split.dataset.records.map((record) => record.imageId);
    const source = { checkpoint: 'c', iteration: 0, detector: 'rpn' };
    for (const [out, count] of [
      ['two', 2],
      ['one', 1],
    ] as const) {
      for (let index = 0; index < count; index++) {
        const records = shardImages(split.dataset.records, { index, count });
        await writeShard(shardFile(join(folder, out), 'val', { index, count }), {
          format: 'det-proposals-shard',
          version: 1,
          split: 'val',
          shard: { index, count },
          top: 20,
          source,
          splitImages,
          images: records.map((record) => record.imageId),
          proposals: await predictProposals(detector, split, records),
        });
      }
      await mergeShards(join(folder, out), 'val', [5, 20]);
    }
    expect(tf.memory().numTensors).toBe(before);
    detector.dispose();
    for (const top of [5, 20]) {
      const two = await readFile(mergedFile(join(folder, 'two'), 'val', top));
      const one = await readFile(mergedFile(join(folder, 'one'), 'val', top));
      expect(two.equals(one)).toBe(true);
    }
    const merged = JSON.parse(await readFile(mergedFile(join(folder, 'one'), 'val', 5), 'utf8'));
    // Up to 5 per image, every image present, boxes inside the 64×48 images, scores descending.
    const proposals = loadSplitProposals(mergedFile(join(folder, 'one'), 'val', 5), split, 'val', {
      strict: true,
    });
    expect([...proposals.keys()]).toEqual(splitImages);
    for (const id of splitImages) {
      const scores = merged
        .filter((p: { image_id: number }) => p.image_id === id)
        .map((p: { score: number }) => p.score);
      expect(scores.length).toBeGreaterThan(0);
      expect(scores.length).toBeLessThanOrEqual(5);
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    }
  });

  it('names the file, image id and field of bad proposals (unknown id, outside, NaN, format)', async () => {
    const [first, second, third] = split.dataset.records;
    const file = join(folder, 'bad.json');
    const good = [first!, second!, third!].map((record) => ({
      image_id: record.imageId,
      bbox: [1, 2, 10, 10],
      score: 0.5,
    }));
    const check = async (entries: unknown) => {
      await writeFile(file, JSON.stringify(entries));
      return () => loadSplitProposals(file, split, 'the val split', { strict: true });
    };
    expect((await check(good))().size).toBe(3);
    expect(await check([...good, { image_id: 999, bbox: [0, 0, 1, 1], score: 1 }])).toThrow(
      `${file}: field 'image_id' 999 is not an image of the val split (proposals of another split or dataset?)`,
    );
    expect(
      await check([...good, { image_id: second!.imageId, bbox: [60, 0, 10, 5], score: 1 }]),
    ).toThrow(
      `${file}: image id ${second!.imageId} ('${second!.fileName}'): field 'bbox' [60, 0, 10, 5] reaches outside the 64×48 image`,
    );
    // JSON has no NaN: a writer's NaN arrives as null.
    expect(
      await check([...good, { image_id: third!.imageId, bbox: [0, 0, 1, 1], score: Number.NaN }]),
    ).toThrow(
      `${file}: proposal #3 field 'score' must be a finite number, got null (image_id ${third!.imageId})`,
    );
    expect(await check({ proposals: good })).toThrow(
      `${file}: expected a JSON array of proposals, got object`,
    );
    expect(await check(good.slice(1))).toThrow(
      `${file}: no proposals for image id ${first!.imageId} ('${first!.fileName}') of the val split`,
    );
  });
});
