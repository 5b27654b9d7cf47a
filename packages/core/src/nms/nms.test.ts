import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { batchedNms } from './batched-nms';
import { nms } from './nms';

interface NmsCase {
  name: string;
  iouThreshold: number;
  boxes: number[];
  scores: number[];
  labels?: number[];
  keep: number[];
}
const load = (file: string) =>
  JSON.parse(
    readFileSync(new URL(`../__fixtures__/primitives/${file}`, import.meta.url), 'utf8'),
  ) as {
    cases: NmsCase[];
  };
const nmsFixture = load('nms.json');
const batchedFixture = load('batched-nms.json');

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('nms against torchvision.ops.nms', () => {
  for (const c of nmsFixture.cases) {
    it(`returns torchvision's indices (${c.name})`, () => {
      const before = tf.memory().numTensors;
      const boxes = tf.tensor2d(c.boxes, [c.scores.length, 4]);
      const scores = tf.tensor1d(c.scores);
      const keep = nms(boxes, scores, { iouThreshold: c.iouThreshold });
      expect(keep).toBeInstanceOf(Int32Array);
      expect(Array.from(keep)).toEqual(c.keep);
      // Typed arrays give the same answer without tensors.
      const hostKeep = nms(Float32Array.from(c.boxes), Float32Array.from(c.scores), c);
      expect(Array.from(hostKeep)).toEqual(c.keep);
      tf.dispose([boxes, scores]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('maxOutputSize takes the first kept boxes; scoreThreshold drops scores ≤ it', () => {
    const c = nmsFixture.cases[0]!;
    const keep = nms(c.boxes, c.scores, { iouThreshold: c.iouThreshold, maxOutputSize: 5 });
    expect(Array.from(keep)).toEqual(c.keep.slice(0, 5));
    const threshold = 0.5;
    const filtered = nms(c.boxes, c.scores, {
      iouThreshold: c.iouThreshold,
      scoreThreshold: threshold,
    });
    // Dropping low scores cannot change which high-scoring boxes survive greedy NMS.
    expect(Array.from(filtered)).toEqual(c.keep.filter((i) => c.scores[i]! > threshold));
  });

  it('keeps every box of zero area and handles zero boxes', () => {
    expect(nms(new Float32Array(0), new Float32Array(0), { iouThreshold: 0.5 })).toEqual(
      new Int32Array(0),
    );
    const empty = tf.zeros([0, 4]) as tf.Tensor2D;
    expect(nms(empty, tf.zeros([0]) as tf.Tensor1D, { iouThreshold: 0.5 }).length).toBe(0);
    // Identical points: 0 / 0 IoU is NaN in torchvision, which never suppresses.
    const points = [5, 5, 5, 5, 5, 5, 5, 5];
    expect(Array.from(nms(points, [0.5, 0.7], { iouThreshold: 0.1 }))).toEqual([1, 0]);
  });

  it('rejects mismatched or malformed input', () => {
    expect(() => nms([0, 0, 1, 1], [0.5, 0.4], { iouThreshold: 0.5 })).toThrow(
      /1 boxes but scores has 2/,
    );
    expect(() => nms([0, 0, 1], [0.5], { iouThreshold: 0.5 })).toThrow(/divisible by 4/);
    expect(() => nms([0, 0, 1, 1], [1], { iouThreshold: Number.NaN })).toThrow(
      /iouThreshold must be a number/,
    );
    expect(() => nms([0, 0, 1, 1], [1], { iouThreshold: 0.5, maxOutputSize: -1 })).toThrow(
      /maxOutputSize/,
    );
  });
});

describe('batchedNms against torchvision.ops.batched_nms', () => {
  for (const c of batchedFixture.cases) {
    it(`returns torchvision's indices (${c.name})`, () => {
      const labels = tf.tensor1d(c.labels!, 'int32');
      const boxes = tf.tensor2d(c.boxes, [c.scores.length, 4]);
      const keep = batchedNms(boxes, c.scores, labels, { iouThreshold: c.iouThreshold });
      expect(Array.from(keep)).toEqual(c.keep);
      tf.dispose([labels, boxes]);
    });
  }

  it('never suppresses across classes and handles zero boxes', () => {
    const boxes = [0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10];
    expect(
      Array.from(batchedNms(boxes, [0.9, 0.8, 0.7], [0, 1, 0], { iouThreshold: 0.5 })),
    ).toEqual([0, 1]);
    expect(batchedNms([], [], [], { iouThreshold: 0.5 }).length).toBe(0);
    expect(() => batchedNms(boxes, [1, 1, 1], [0], { iouThreshold: 0.5 })).toThrow(
      /labels has 1 entries/,
    );
  });
});
