import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { locationLoss } from './location-loss';
import { gtLevels, locationTargets } from './location-targets';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

type Box = [number, number, number, number];
const strides = [4, 8, 16, 32, 64];
const imageSize = 128;
const featmapSizes = strides.map((s) => [imageSize / s, imageSize / s] as const);

/** Brute force from the paper's definitions (GA §3.4), cell by cell, box by box. */
function referenceLabels(boxes: Box[], level: number): number[][] {
  const stride = strides[level] as number;
  const size = imageSize / stride;
  const base = 8 * (strides[0] as number);
  const boxLevel = ([x1, y1, x2, y2]: Box) => {
    const raw = Math.floor(Math.log2(Math.sqrt((x2 - x1) * (y2 - y1)) / base) + 0.5);
    return Math.min(Math.max(raw, 0), strides.length - 1);
  };
  const inRegion = ([x1, y1, x2, y2]: Box, sigma: number, row: number, col: number) => {
    const r = (1 - sigma) / 2;
    const end = (a: number, b: number, t: number) =>
      Math.floor(((1 - t) * a + t * b) / stride + 0.5);
    return (
      col >= end(x1, x2, r) &&
      col <= end(x1, x2, 1 - r) &&
      row >= end(y1, y2, r) &&
      row <= end(y1, y2, 1 - r)
    );
  };
  const grid: number[][] = [];
  for (let row = 0; row < size; row++) {
    const line: number[] = [];
    for (let col = 0; col < size; col++) {
      let centre = false;
      let ignore = false;
      for (const box of boxes) {
        const l = boxLevel(box);
        if (l === level && inRegion(box, 0.2, row, col)) centre = true;
        if (Math.abs(l - level) <= 1 && inRegion(box, 0.5, row, col)) ignore = true;
      }
      line.push(centre ? 1 : ignore ? -1 : 0);
    }
    grid.push(line);
  }
  return grid;
}

function check(images: Box[][]): number[][][][] {
  const before = tf.memory().numTensors;
  const gts = images.map((boxes) => tf.tensor2d(boxes.flat(), [boxes.length, 4]));
  const labels = locationTargets(gts, featmapSizes, { strides });
  const grids = labels.map((l) => l.arraySync() as number[][][]);
  tf.dispose([...gts, ...labels]);
  expect(tf.memory().numTensors).toBe(before);
  expect(grids).toHaveLength(featmapSizes.length);
  grids.forEach((grid, level) => {
    expect(grid).toHaveLength(images.length);
    images.forEach((boxes, image) => {
      expect(grid[image]).toEqual(referenceLabels(boxes, level));
    });
  });
  return grids;
}

const count = (grids: number[][][][], value: number, level: number) =>
  (grids[level] as number[][][]).flat(2).filter((v) => v === value).length;

describe('locationTargets', () => {
  it('assigns levels by scale', () => {
    const boxes = tf.tensor2d(
      [0, 0, 32, 32, 0, 0, 64, 64, 0, 0, 10, 10, 0, 0, 128, 127, 0, 0, 500, 500],
      [5, 4],
    );
    const levels = gtLevels(boxes, { strides });
    expect(Array.from(levels.dataSync())).toEqual([0, 1, 0, 2, 4]);
    tf.dispose([boxes, levels]);
  });

  it('one box: its centre cell is positive, adjacent level ignored, far levels negative', () => {
    const grids = check([[[30, 34, 94, 98]]]); // √wh = 64 → level 1, centre (62, 66)
    const centre = grids[1]?.[0]?.[Math.round(66 / 8)]?.[Math.round(62 / 8)];
    expect(centre).toBe(1);
    expect(count(grids, 1, 1)).toBeGreaterThan(0);
    expect(count(grids, -1, 1)).toBeGreaterThan(0);
    expect(count(grids, 1, 0) + count(grids, 1, 2)).toBe(0);
    expect(count(grids, -1, 0)).toBeGreaterThan(0);
    expect(count(grids, -1, 2)).toBeGreaterThan(0);
    expect(count(grids, -1, 3) + count(grids, 1, 3)).toBe(0);
  });

  it('boxes on adjacent levels: each centre wins over the other box’s ignore region', () => {
    check([
      [
        [10, 10, 42, 42],
        [20, 18, 84, 82],
        [60, 60, 124, 124],
      ],
    ]);
  });

  it('overlapping boxes on one level, and a box at the image border', () => {
    const grids = check([
      [
        [40, 40, 100, 100],
        [50, 44, 110, 104],
      ],
      [
        [-10, -6, 40, 30],
        [100, 96, 140, 132],
      ],
    ]);
    expect(count(grids, 1, 1)).toBeGreaterThan(0);
  });

  it('images without boxes: every cell negative', () => {
    const grids = check([[], [[8, 8, 40, 40]], []]);
    for (const grid of grids) {
      expect((grid[0] as number[][]).flat().every((v) => v === 0)).toBe(true);
    }
  });

  it('rejects bad boxes and mismatched levels', () => {
    const bad = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => locationTargets([bad], featmapSizes, { strides })).toThrow(/gtBoxes\[0\]/);
    expect(() => locationTargets([], featmapSizes.slice(1), { strides })).toThrow(/featmapSizes/);
    expect(() => locationTargets([], featmapSizes, { strides, centerRatio: 0.6 })).toThrow(
      /centerRatio/,
    );
    bad.dispose();
  });
});

describe('locationLoss', () => {
  it('trains the centre as positive: its gradient pushes the centre logit up, negatives down', () => {
    const gts = [tf.tensor2d([30, 34, 94, 98], [1, 4])];
    const labels = locationTargets(gts, featmapSizes, { strides });
    const logits = featmapSizes.map(([h, w]) => tf.zeros([1, h, w, 1]));
    const before = tf.memory().numTensors;
    const grads = tf.grads((...xs: tf.Tensor[]) => locationLoss(xs, labels))(logits);
    const level1 = grads[1]?.arraySync() as number[][][][];
    const labels1 = labels[1]?.arraySync() as number[][][];
    for (let row = 0; row < 16; row++) {
      for (let col = 0; col < 16; col++) {
        const g = level1[0]?.[row]?.[col]?.[0] as number;
        const label = labels1[0]?.[row]?.[col];
        if (label === 1) expect(g).toBeLessThan(0);
        else if (label === 0) expect(g).toBeGreaterThan(0);
        else expect(g).toBe(0);
      }
    }
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...gts, ...labels, ...logits]);
  });

  it('normalizers: positives, cells / divisor, constant; no boxes gives a finite loss', () => {
    const gts = [tf.tensor2d([30, 34, 94, 98], [1, 4])];
    const labels = locationTargets(gts, featmapSizes, { strides });
    const logits = featmapSizes.map(([h, w]) => tf.zeros([1, h, w, 1]));
    const numPos = labels.reduce(
      (n, l) => n + (l.arraySync() as number[][][]).flat(2).filter((v) => v === 1).length,
      0,
    );
    const numCells = labels.reduce((n, l) => n + l.size, 0);
    const sum = locationLoss(logits, labels, { normalizer: { mode: 'constant', value: 1 } });
    const byPos = locationLoss(logits, labels);
    const byCells = locationLoss(logits, labels, { normalizer: { mode: 'cells', divisor: 200 } });
    const s = sum.dataSync()[0] as number;
    expect(byPos.dataSync()[0]).toBeCloseTo(s / numPos, 5);
    expect(byCells.dataSync()[0]).toBeCloseTo(s / (numCells / 200), 5);
    const empty = locationTargets([tf.zeros([0, 4]) as tf.Tensor2D], featmapSizes, { strides });
    const emptyLoss = locationLoss(logits, empty);
    expect(Number.isFinite(emptyLoss.dataSync()[0])).toBe(true);
    expect(emptyLoss.dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([...gts, ...labels, ...logits, sum, byPos, byCells, ...empty, emptyLoss]);
  });

  it('negativeWeight: mmdetection’s 0.1 on negatives with cells / 200 is reachable', () => {
    const gts = [tf.tensor2d([30, 34, 94, 98], [1, 4])];
    const labels = locationTargets(gts, featmapSizes, { strides });
    const logits = featmapSizes.map(([h, w]) => tf.zeros([1, h, w, 1]));
    const flat = labels.flatMap((l) => (l.arraySync() as number[][][]).flat(2));
    const numPos = flat.filter((v) => v === 1).length;
    const numNeg = flat.filter((v) => v === 0).length;
    // At logit 0 (p = ½) the focal terms are α·½^γ·ln 2 (positive) and (1 − α)·½^γ·ln 2.
    const positiveTerm = 0.25 * 0.25 * Math.LN2;
    const negativeTerm = 0.75 * 0.25 * Math.LN2;
    const before = tf.memory().numTensors;
    const loss = locationLoss(logits, labels, {
      negativeWeight: 0.1,
      normalizer: { mode: 'cells', divisor: 200 },
    });
    const expected = (numPos * positiveTerm + 0.1 * numNeg * negativeTerm) / (flat.length / 200);
    // float32 sums over ~1,400 cells: relative agreement to 1e-4.
    expect(Math.abs((loss.dataSync()[0] as number) / expected - 1)).toBeLessThan(1e-4);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => locationLoss(logits, labels, { negativeWeight: -1 })).toThrow(
      'locationLoss: negativeWeight must be ≥ 0, got -1',
    );
    tf.dispose([...gts, ...labels, ...logits]);
  });
});
