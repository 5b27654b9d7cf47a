import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  histogram,
  shapeHistograms,
  writeLocationHeatmaps,
  writeShapeHistograms,
} from './diagnostics';

let dir = '';
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'ga-diagnostics-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('histograms', () => {
  it('bins values, clamps the ends, skips non-finite', () => {
    const h = histogram([0, 0.5, 1.5, 2, -3, 9, Number.NaN], { min: 0, max: 2, bins: 2 });
    expect(h.counts).toEqual([3, 3]);
    expect(h.edges).toEqual([0, 1, 2]);
    expect(h.frequencies).toEqual([0.5, 0.5]);
    expect(histogram([], { min: 0, max: 1, bins: 2 }).frequencies).toEqual([0, 0]);
    expect(() => histogram([], { min: 1, max: 1, bins: 2 })).toThrow(/max > min/);
  });

  it('scale and aspect ratio of anchors against GT (GA Fig. 4)', () => {
    // GT: 32×32 (scale 5, ratio 0) and 16×64 (scale 5, ratio 2); anchors: 64×64.
    const h = shapeHistograms({
      anchors: [0, 0, 64, 64],
      gtBoxes: [0, 0, 32, 32, 0, 0, 16, 64],
      bins: 8,
    });
    expect(h.scale.gt.counts).toEqual([0, 0, 0, 2, 0, 0, 0, 0]);
    expect(h.scale.anchors.counts).toEqual([0, 0, 0, 0, 1, 0, 0, 0]);
    expect(h.ratio.gt.counts).toEqual([0, 0, 0, 0, 1, 0, 1, 0]);
  });

  it('writes an SVG and a text table', async () => {
    const paths = await writeShapeHistograms(dir, {
      anchors: [0, 0, 64, 64],
      gtBoxes: [],
      prefix: 'x-',
    });
    expect(paths.map((p) => p.slice(dir.length + 1))).toEqual([
      'x-shape-histograms.svg',
      'x-shape-histograms.txt',
    ]);
    expect(await readFile(paths[0] as string, 'utf8')).toMatch(/^<svg/);
    expect(await readFile(paths[1] as string, 'utf8')).toMatch(/# log2 scale/);
  });
});

describe('writeLocationHeatmaps', () => {
  it('writes one PNG per level, the size of the image, hot where p is high', async () => {
    const p0 = tf.tensor4d([0.99, 0, 0, 0], [1, 2, 2, 1]);
    const p1 = tf.tensor3d([0.0], [1, 1, 1]);
    const image = {
      data: new Uint8Array(8 * 8 * 3).fill(255),
      width: 8,
      height: 8,
      channels: 3 as const,
    };
    const before = tf.memory().numTensors;
    const paths = await writeLocationHeatmaps({
      locationMaps: [p0, p1],
      probabilities: true,
      imageSize: [16, 16],
      image,
      outDir: dir,
      opacity: 1,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(paths.length).toBe(2);
    const { data, info } = await sharp(paths[0] as string)
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([16, 16]);
    // Jet colours: top-left cell (p = 0.99) dark red, bottom-right (p = 0) dark blue.
    expect(data[0]).toBeGreaterThan(120);
    expect(data[1]).toBeLessThan(50);
    expect(data[2]).toBeLessThan(50);
    const last = (16 * 16 - 1) * info.channels;
    expect(data[last]).toBeLessThan(50);
    expect(data[last + 2]).toBeGreaterThan(100);
    await expect(
      writeLocationHeatmaps({
        locationMaps: [p0],
        imageSize: [16, 16],
        imageIndex: 3,
        outDir: dir,
      }),
    ).rejects.toThrow(/imageIndex 3/);
    tf.dispose([p0, p1]);
  });
});
