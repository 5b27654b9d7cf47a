import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readProposalsFile } from '@det/detectors/node';
import { describe, expect, it } from 'vitest';
import {
  finishedShard,
  mergedFile,
  mergeShards,
  type ProposalEntry,
  parseShard,
  type ShardContent,
  shardFile,
  shardImages,
  writeShard,
} from './shards';

const source = { checkpoint: 'runs/ga/checkpoints/best.safetensors', iteration: 7, detector: 'x' };
const splitImages = [11, 12, 13, 14, 15, 16, 17];

/** Three proposals per image with distinct, score-sorted boxes (as a proposal head emits). */
function proposalsOf(ids: readonly number[]): ProposalEntry[] {
  return ids.flatMap((id) =>
    [0.9, 0.5, 0.1].map((score, rank) => ({
      image_id: id,
      bbox: [id + rank, rank * 1.25, 10 + rank, 20.5] as [number, number, number, number],
      score: score - id / 1000,
      category_id: 1 as const,
    })),
  );
}

async function writeShards(directory: string, count: number, skip: number[] = []) {
  for (let index = 0; index < count; index++) {
    if (skip.includes(index)) continue;
    const shard = { index, count };
    const images = shardImages(splitImages, shard);
    await writeShard(shardFile(directory, 'val', shard), {
      format: 'det-proposals-shard',
      version: 1,
      split: 'val',
      shard,
      top: 3,
      source,
      splitImages,
      images,
      proposals: proposalsOf(images),
    });
  }
}

describe('proposal shards', () => {
  it('parses i/N (0-based) and names a bad one', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(parseShard('0/1')).toEqual({ index: 0, count: 1 });
    for (const bad of ['4/4', '1', 'a/2', '0/0', '-1/3'])
      expect(() => parseShard(bad)).toThrow(`--shard ${bad}: expected i/N with 0 ≤ i < N`);
  });

  it('slices a split into contiguous shards that cover every image exactly once', () => {
    for (const count of [1, 2, 3, 7, 9]) {
      const parts = Array.from({ length: count }, (_, index) =>
        shardImages(splitImages, { index, count }),
      );
      expect(parts.flat()).toEqual(splitImages);
    }
    expect(shardImages([], { index: 0, count: 3 })).toEqual([]);
  });

  it('merges 3 shards into the same bytes as 1; the files read back as the same boxes', async () => {
    const sharded = await mkdtemp(join(tmpdir(), 'det-shards-'));
    const whole = await mkdtemp(join(tmpdir(), 'det-shards-'));
    await writeShards(sharded, 3);
    await writeShards(whole, 1);
    const report = await mergeShards(sharded, 'val', [2, 3]);
    expect(report).toMatchObject({ shards: 3, images: 7, proposals: 21, source });
    await mergeShards(whole, 'val', [2, 3]);
    for (const top of [2, 3]) {
      const a = await readFile(mergedFile(sharded, 'val', top));
      const b = await readFile(mergedFile(whole, 'val', top));
      expect(a.equals(b)).toBe(true);
    }
    // Round trip: the merged file → readProposalsFile → the same xyxy boxes, in score order.
    const read = readProposalsFile(mergedFile(sharded, 'val', 2));
    expect([...read.keys()]).toEqual(splitImages);
    const expected = proposalsOf([13]).slice(0, 2);
    expect(Array.from(read.get(13)!)).toEqual(
      expected.flatMap(({ bbox: [x, y, w, h] }) => [x, y, x + w, y + h]).map(Math.fround),
    );
    await expect(mergeShards(sharded, 'val', [4])).rejects.toThrow(
      'top 4 asked, but the shards hold 3 per image',
    );
  });

  it('names a missing shard, a duplicated, an uncovered and an unknown image id', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'det-shards-'));
    await writeShards(directory, 4, [2]);
    await expect(mergeShards(directory, 'val', [3])).rejects.toThrow(
      `${directory}: missing shard 2/4 (${shardFile(directory, 'val', { index: 2, count: 4 })}); run det-finetune proposals --shard 2/4 first`,
    );
    await expect(mergeShards(directory, 'train', [3])).rejects.toThrow(
      "no shards of split 'train'",
    );
    const file = shardFile(directory, 'val', { index: 2, count: 4 });
    const write = (patch: Partial<ShardContent>) =>
      writeShard(file, {
        format: 'det-proposals-shard',
        version: 1,
        split: 'val',
        shard: { index: 2, count: 4 },
        top: 3,
        source,
        splitImages,
        images: [14, 15],
        proposals: proposalsOf([14, 15]),
        ...patch,
      });
    // Shard 1 of 4 holds 12 and 13, shard 2 holds 14 and 15: claiming 13 again is a duplicate.
    await write({ images: [13, 14, 15], proposals: proposalsOf([14, 15]) });
    await expect(mergeShards(directory, 'val', [3])).rejects.toThrow(
      `image id 13 is in two shards: ${shardFile(directory, 'val', { index: 1, count: 4 })} and ${file}`,
    );
    await write({ images: [], proposals: [] });
    await expect(mergeShards(directory, 'val', [3])).rejects.toThrow(
      `${directory}: image id 14 of split 'val' is in no shard (2 images missing)`,
    );
    await write({ images: [14, 15, 99], proposals: proposalsOf([14, 15]) });
    await expect(mergeShards(directory, 'val', [3])).rejects.toThrow(
      `${file}: field 'images': image id 99 is not in split 'val'`,
    );
    await write({ images: [14, 15], proposals: proposalsOf([14, 15, 16]) });
    await expect(mergeShards(directory, 'val', [3])).rejects.toThrow(
      `${file}: proposal #6 field 'image_id' 16 is not an image of this shard`,
    );
    await writeFile(file, '{"format": "something"}');
    await expect(mergeShards(directory, 'val', [3])).rejects.toThrow(
      `${file}: field 'format': not a det proposals shard`,
    );
    await rm(directory, { recursive: true });
  });

  it('a finished shard of the same source is skipped; one of another source is refused', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'det-shards-'));
    await writeShards(directory, 2);
    const file = shardFile(directory, 'val', { index: 0, count: 2 });
    const header = { split: 'val', shard: { index: 0, count: 2 }, top: 3, source, splitImages };
    expect(await finishedShard(file, header)).toBe(true);
    expect(await finishedShard(join(directory, 'none.json'), header)).toBe(false);
    await expect(
      finishedShard(file, { ...header, source: { ...source, iteration: 8 } }),
    ).rejects.toThrow(
      `${file}: a shard of other proposals is in the way (field source.iteration 7 (now 8))`,
    );
    // Written atomically: no temporary file is left beside the shards.
    const names = (await import('node:fs')).readdirSync(directory);
    expect(names.filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
