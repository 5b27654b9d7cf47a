import { initBackend, RandomSampler } from '@det/core';
import { expectClose } from '@det/core/testing';
import { boundedIouLoss, boundedIouShapeLoss } from '@det/losses';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApproxMaxIoUAssigner } from './approx-max-iou-assigner';
import { decodeShape, shapeLoss } from './shape-loss';
import { disposeShapeTargets, ShapeTargetBuilder } from './shape-targets';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

type Box = number[];
function iou(a: Box, b: Box): number {
  const [ax1, ay1, ax2, ay2] = a as [number, number, number, number];
  const [bx1, by1, bx2, by2] = b as [number, number, number, number];
  const iw = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0);
  const ih = Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
  const inter = iw * ih;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return inter / Math.max(union, 1e-6);
}

/** mmdetection's ApproxMaxIoUAssigner, loop by loop. */
function referenceAssign(
  approxes: Box[],
  perLocation: number,
  gts: Box[],
  pos: number,
  neg: number,
  minPos: number,
): number[] {
  const n = approxes.length / perLocation;
  if (gts.length === 0) return new Array(n).fill(0);
  const overlaps = gts.map((gt) =>
    Array.from({ length: n }, (_, loc) => {
      let best = 0;
      for (let a = 0; a < perLocation; a++)
        best = Math.max(best, iou(gt, approxes[loc * perLocation + a] as Box));
      return best;
    }),
  );
  const assigned: number[] = [];
  for (let loc = 0; loc < n; loc++) {
    let best = -1;
    let arg = 0;
    overlaps.forEach((row, g) => {
      if ((row[loc] as number) > best) {
        best = row[loc] as number;
        arg = g;
      }
    });
    assigned.push(best >= pos ? arg + 1 : best < neg ? 0 : -1);
  }
  overlaps.forEach((row, g) => {
    const gtMax = Math.max(...row);
    if (gtMax < minPos) return;
    row.forEach((v, loc) => {
      // Ties within float32 resolution: the implementation compares float32 IoUs.
      if (v >= gtMax * (1 - 1e-6)) assigned[loc] = g + 1;
    });
  });
  return assigned;
}

function randomBoxes(count: number, seed: number, size: number): Box[] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return Array.from({ length: count }, () => {
    const w = Math.round(24 + rand() * size * 0.6);
    const h = Math.round(24 + rand() * size * 0.6);
    const x = Math.round(rand() * (size - w));
    const y = Math.round(rand() * (size - h));
    return [x, y, x + w, y + h];
  });
}

describe('ApproxMaxIoUAssigner', () => {
  const strides = [8, 16];
  const featmapSizes = [
    [16, 16],
    [8, 8],
  ] as const;

  it.each([
    [0, 0.7, 0.3, 0.3],
    [3, 0.7, 0.3, 0.3],
    [5, 0.5, 0.4, 0.4],
  ])('matches a brute-force reference with %i gts', (numGts, pos, neg, minPos) => {
    const builder = new ShapeTargetBuilder({ strides });
    const approxes = tf.tidy(() =>
      tf.concat(builder.approxGenerator.gridPriors(featmapSizes)),
    ) as tf.Tensor2D;
    const squares = builder.squares(featmapSizes);
    const gts = randomBoxes(numGts, 7 + numGts, 128);
    const gtTensor = tf.tensor2d(gts.flat(), [numGts, 4]);
    const before = tf.memory().numTensors;
    const assigner = new ApproxMaxIoUAssigner({
      posIouThreshold: pos,
      negIouThreshold: neg,
      minPosIou: minPos,
    });
    const result = assigner.assign(approxes, squares, gtTensor);
    const expected = referenceAssign(approxes.arraySync() as Box[], 9, gts, pos, neg, minPos);
    expect(Array.from(result.gtIndices.dataSync())).toEqual(expected);
    if (numGts > 0) expect(expected.some((v) => v > 0)).toBe(true);
    tf.dispose([result.gtIndices, result.maxOverlaps]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([approxes, squares, gtTensor]);
  });

  it.each([
    [1, 3],
    [5, 15],
  ])(
    'ShapeTargetBuilder with %i approximating scale(s) (%i anchors per location, GA §4.3) matches the reference',
    (scalesPerOctave, perLocation) => {
      const builder = new ShapeTargetBuilder({
        strides,
        scalesPerOctave,
        // GA-RPN's assigner, built for the default 9: the builder rebinds it to its own count.
        assigner: new ApproxMaxIoUAssigner({
          posIouThreshold: 0.7,
          negIouThreshold: 0.3,
          minPosIou: 0.3,
        }),
        sampler: new RandomSampler({ num: 10_000, posFraction: 1 }),
      });
      const gts = randomBoxes(3, 21, 128);
      const gtTensor = tf.tensor2d(gts.flat(), [3, 4]);
      const before = tf.memory().numTensors;
      const targets = builder.build([gtTensor], featmapSizes);
      const approxes = tf.tidy(() =>
        tf.concat(builder.approxGenerator.gridPriors(featmapSizes)),
      ) as tf.Tensor2D;
      expect(approxes.shape[0]).toBe((16 * 16 + 8 * 8) * perLocation);
      const expected = referenceAssign(
        approxes.arraySync() as Box[],
        perLocation,
        gts,
        0.7,
        0.3,
        0.3,
      );
      expect(expected.some((v) => v > 0)).toBe(true);
      expect(targets.weights.arraySync()[0]).toEqual(expected.map((v) => (v > 0 ? 1 : 0)));
      approxes.dispose();
      disposeShapeTargets(targets);
      expect(tf.memory().numTensors).toBe(before);
      gtTensor.dispose();
    },
  );

  it('rejects approxes that do not match the squares', () => {
    const assigner = new ApproxMaxIoUAssigner({ posIouThreshold: 0.7, negIouThreshold: 0.3 });
    const a = tf.zeros([10, 4]) as tf.Tensor2D;
    const s = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(() => assigner.assign(a, s, s)).toThrow(/approxes must be \[2·9, 4\]/);
    expect(
      () => new ApproxMaxIoUAssigner({ posIouThreshold: Number.NaN, negIouThreshold: 0.3 }),
    ).toThrow(/posIouThreshold/);
    tf.dispose([a, s]);
  });
});

describe('ShapeTargetBuilder and shapeLoss', () => {
  const strides = [8, 16];
  const featmapSizes = [
    [16, 16],
    [8, 8],
  ] as const;

  it('targets the assigned gt at every positive (sampler keeping all), and none without gts', () => {
    const builder = new ShapeTargetBuilder({
      strides,
      sampler: new RandomSampler({ num: 10_000, posFraction: 1 }),
    });
    const gts = [randomBoxes(3, 10, 128), []];
    const gtTensors = gts.map((g) => tf.tensor2d(g.flat(), [g.length, 4]));
    const before = tf.memory().numTensors;
    const targets = builder.build(gtTensors, featmapSizes);
    const approxes = tf.tidy(() =>
      tf.concat(builder.approxGenerator.gridPriors(featmapSizes)),
    ) as tf.Tensor2D;
    const expected = referenceAssign(
      approxes.arraySync() as Box[],
      9,
      gts[0] as Box[],
      0.7,
      0.3,
      0.3,
    );
    approxes.dispose();
    const weights = targets.weights.arraySync();
    const boxes = targets.boxTargets.arraySync();
    expect(weights[0]).toEqual(expected.map((v) => (v > 0 ? 1 : 0)));
    expected.forEach((v, loc) => {
      const target = boxes[0]?.[loc] as number[];
      const gt = (gts[0] as Box[])[v - 1] as Box;
      if (v > 0) expect(target).toEqual(gt.map((c) => expect.closeTo(c, 4)));
      else expect(target).toEqual([0, 0, 0, 0]);
    });
    expect(weights[1]?.every((w) => w === 0)).toBe(true);
    expect(targets.numPositives).toBe(expected.filter((v) => v > 0).length);

    // eq. 6 by hand at zero deltas: w = h = 8·s.
    const preds = featmapSizes.map(([h, w]) => tf.zeros([2, h, w, 2]) as tf.Tensor4D);
    const loss = shapeLoss(preds, targets, { strides, normalizer: 'positives' });
    const squareSides = featmapSizes.flatMap(([h, w], level) =>
      new Array(h * w).fill(8 * (strides[level] as number)),
    );
    let sum = 0;
    const smoothL1 = (x: number) => (x < 0.2 ? (0.5 * x * x) / 0.2 : x - 0.1);
    expected.forEach((v, loc) => {
      if (v <= 0) return;
      const [x1, y1, x2, y2] = (gts[0] as Box[])[v - 1] as [number, number, number, number];
      const side = squareSides[loc] as number;
      for (const g of [x2 - x1, y2 - y1])
        sum += smoothL1(1 - Math.min(g / (side + 1e-3), side / (g + 1e-3)));
    });
    expect(loss.dataSync()[0]).toBeCloseTo(sum / targets.numPositives, 4);
    tf.dispose([loss, ...preds]);
    disposeShapeTargets(targets);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(gtTensors);
  });

  it('an image without gts gives a zero, finite loss', () => {
    const builder = new ShapeTargetBuilder({ strides });
    const gt = tf.zeros([0, 4]) as tf.Tensor2D;
    const targets = builder.build([gt], featmapSizes);
    const preds = featmapSizes.map(([h, w]) => tf.zeros([1, h, w, 2]) as tf.Tensor4D);
    const loss = shapeLoss(preds, targets, { strides });
    expect(loss.dataSync()[0]).toBe(0);
    expect(targets.numNegatives).toBeGreaterThan(0);
    tf.dispose([gt, loss, ...preds]);
    disposeShapeTargets(targets);
  });

  it('bounded IoU shape loss: gradient only on w/h, equal to the full loss’s w/h gradient', () => {
    const centres = tf.tensor2d([10, 12, 40, 30], [2, 2]);
    const sizes = tf.tensor2d([20, 8, 5, 50], [2, 2]);
    const target = tf.tensor2d([3, 5, 21, 19, 30, 10, 48, 44], [2, 4]);
    const full = (c: tf.Tensor, s: tf.Tensor) =>
      boundedIouLoss(tf.concat([tf.sub(c, tf.div(s, 2)), tf.add(c, tf.div(s, 2))], 1), target, {
        reduction: 'sum',
      });
    const targetWh = tf.sub(tf.slice(target, [0, 2], [2, 2]), tf.slice(target, [0, 0], [2, 2]));
    const shapeOnly = (_c: tf.Tensor, s: tf.Tensor) =>
      boundedIouShapeLoss(s, targetWh, { reduction: 'sum' });
    const [, fullSizeGrad] = tf.grads(full)([centres, sizes]);
    const [shapeSizeGrad] = tf.grads((s: tf.Tensor) => shapeOnly(centres, s))([sizes]);
    if (!shapeSizeGrad || !fullSizeGrad) throw new Error('expected both size gradients');
    expect(shapeSizeGrad.shape).toEqual([2, 2]);
    expect(fullSizeGrad.shape).toEqual([2, 2]);
    expectClose(shapeSizeGrad, fullSizeGrad, { atol: 1e-5, rtol: 1e-5, label: 'size gradient' });
    // Not vacuous: the loss depends on every width and height.
    expect(Array.from(fullSizeGrad.dataSync()).every((v) => v !== 0)).toBe(true);
    // Through decodeShape the only inputs are (dw, dh): the centres are the squares', fixed.
    const deltas = tf.tensor4d([0.1, -0.2], [1, 1, 1, 2]);
    const [deltaGrad] = tf.grads((d: tf.Tensor) =>
      boundedIouShapeLoss(
        tf.reshape(decodeShape(d, 4, { squareScale: 8 }), [1, 2]),
        tf.tensor2d([[20, 50]]),
        { reduction: 'sum' },
      ),
    )([deltas]);
    if (!deltaGrad) throw new Error('expected a gradient on the shape deltas');
    const deltaValues = Array.from(deltaGrad.dataSync());
    expect(deltaValues).toHaveLength(2);
    expect(deltaValues.every((v) => v !== 0 && Number.isFinite(v))).toBe(true);
    tf.dispose(
      [centres, sizes, target, targetWh, fullSizeGrad, shapeSizeGrad, deltas, deltaGrad].filter(
        Boolean,
      ) as tf.Tensor[],
    );
  });
});
