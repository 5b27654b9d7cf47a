import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { boxArea } from './box-area';
import { convertBoxes } from './box-format';
import { boxIof, boxIou, boxOverlaps } from './box-overlaps';
import { clipBoxes } from './clip-boxes';
import { largeBoxMask, removeSmallBoxes } from './small-boxes';

interface IouCase {
  name: string;
  a: number[];
  b: number[];
  iou: number[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../__fixtures__/primitives/box-iou.json', import.meta.url), 'utf8'),
) as { cases: IouCase[] };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

function boxes(values: number[]): tf.Tensor2D {
  return tf.tensor2d(values, [values.length / 4, 4]);
}

describe('boxIou', () => {
  for (const c of fixture.cases) {
    it(`equals torchvision.ops.box_iou bit for bit (${c.name})`, () => {
      const before = tf.memory().numTensors;
      const a = boxes(c.a);
      const b = boxes(c.b);
      const iou = boxIou(a, b);
      expect(iou.shape).toEqual([c.a.length / 4, c.b.length / 4]);
      expect(Array.from(iou.dataSync())).toEqual(c.iou);
      tf.dispose([a, b, iou]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('gives 1 for identical boxes, exactly 0.5 on a half box, 0 for zero-area boxes', () => {
    const a = boxes([10, 10, 30, 30, 10, 10, 30, 20, 5, 5, 5, 5]);
    const b = boxes([10, 10, 30, 30, 5, 5, 5, 5]);
    // A zero-area box against itself is 0/0: torchvision gives NaN, mmdetection's eps 0.
    expect(Array.from(boxIou(a, b).dataSync())).toEqual([1, 0, 0.5, 0, 0, 0]);
  });

  it('handles empty inputs', () => {
    const before = tf.memory().numTensors;
    const empty = tf.zeros([0, 4]) as tf.Tensor2D;
    const some = boxes([0, 0, 1, 1, 0, 0, 2, 2]);
    const left = boxIou(empty, some);
    const right = boxIou(some, empty);
    const both = boxIou(empty, empty);
    expect([left.shape, right.shape, both.shape]).toEqual([
      [0, 2],
      [2, 0],
      [0, 0],
    ]);
    tf.dispose([empty, some, left, right, both]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is differentiable in both inputs', () => {
    // No coordinate ties, so min/max are smooth and finite differences apply.
    const a = boxes([0, 2, 10, 11]);
    const b = boxes([5, 0, 15, 9]);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(boxIou(x as tf.Tensor2D, y as tf.Tensor2D)),
    )([a, b]);
    // Central finite differences of the same function, coordinate by coordinate.
    const step = 1e-2;
    const iouAt = (x: number[], y: number[]) => boxIou(boxes(x), boxes(y)).dataSync()[0]!;
    const base = [Array.from(a.dataSync()), Array.from(b.dataSync())];
    [ga!, gb!].forEach((grad, which) => {
      const analytic = Array.from(grad.dataSync());
      analytic.forEach((value, k) => {
        const plus = base.map((v) => [...v]);
        const minus = base.map((v) => [...v]);
        plus[which]![k]! += step;
        minus[which]![k]! -= step;
        const numeric = (iouAt(plus[0]!, plus[1]!) - iouAt(minus[0]!, minus[1]!)) / (2 * step);
        expect(value).toBeCloseTo(numeric, 3);
      });
    });
    expect(Math.abs(ga!.dataSync()[2]!)).toBeGreaterThan(0.01);
  });

  it('rejects boxes that are not [N, 4]', () => {
    const bad = tf.zeros([3, 5]) as tf.Tensor2D;
    expect(() => boxIou(bad, bad)).toThrow(/a must have shape \[N, 4\], got \[3, 5\]/);
  });
});

describe('boxIof', () => {
  it('divides the intersection by the first box’s area', () => {
    const a = boxes([0, 0, 10, 10, 0, 0, 0, 10]);
    const b = boxes([0, 0, 5, 10, 0, 0, 100, 100]);
    expect(Array.from(boxIof(a, b).dataSync())).toEqual([0.5, 1, 0, 0]);
    expect(() => boxOverlaps(a, b, { mode: 'giou' as 'iou' })).toThrow(
      /mode must be 'iou' or 'iof'/,
    );
  });
});

describe('convertBoxes / boxArea / clipBoxes / removeSmallBoxes', () => {
  it('converts between xyxy, xywh and cxcywh and back', () => {
    const xyxy = boxes([10, 20, 30, 60, 0, 0, 0, 0]);
    expect(Array.from(convertBoxes(xyxy, 'xyxy', 'xywh').dataSync())).toEqual([
      10, 20, 20, 40, 0, 0, 0, 0,
    ]);
    expect(Array.from(convertBoxes(xyxy, 'xyxy', 'cxcywh').dataSync())).toEqual([
      20, 40, 20, 40, 0, 0, 0, 0,
    ]);
    const cxcywh = convertBoxes(xyxy, 'xyxy', 'cxcywh');
    expect(Array.from(convertBoxes(cxcywh, 'cxcywh', 'xywh').dataSync())).toEqual([
      10, 20, 20, 40, 0, 0, 0, 0,
    ]);
    expect(Array.from(convertBoxes(cxcywh, 'cxcywh', 'xyxy').dataSync())).toEqual(
      Array.from(xyxy.dataSync()),
    );
    expect(convertBoxes(tf.zeros([0, 4]), 'xywh', 'xyxy').shape).toEqual([0, 4]);
    expect(() => convertBoxes(xyxy, 'xyxy', 'yxyx' as 'xyxy')).toThrow(/to must be one of/);
  });

  it('computes areas without +1, for any leading shape', () => {
    expect(
      Array.from(boxArea(tf.tensor3d([0, 0, 2, 3, 1, 1, 1, 5], [1, 2, 4])).dataSync()),
    ).toEqual([6, 0]);
    expect(boxArea(tf.zeros([0, 4])).shape).toEqual([0]);
  });

  it('clips to [0, width] × [0, height]', () => {
    const clipped = clipBoxes(boxes([-5, -5, 50, 20, 10, 10, 20, 200]), [100, 40]);
    expect(Array.from(clipped.dataSync())).toEqual([0, 0, 40, 20, 10, 10, 20, 100]);
    expect(() => clipBoxes(clipped, [Number.NaN, 3])).toThrow(/size must be \[height, width\]/);
  });

  it('keeps boxes whose sides are both ≥ minSize', () => {
    const b = boxes([0, 0, 2, 2, 0, 0, 1, 5, 0, 0, 5, 1.5, 3, 3, 8, 8]);
    expect(Array.from(largeBoxMask(b, 2).dataSync())).toEqual([1, 0, 0, 1]);
    expect(Array.from(removeSmallBoxes(b, 2))).toEqual([0, 3]);
    expect(removeSmallBoxes(tf.zeros([0, 4]) as tf.Tensor2D, 1)).toEqual(new Int32Array(0));
  });
});
