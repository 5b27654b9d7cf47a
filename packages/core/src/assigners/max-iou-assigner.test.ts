import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { disposeAssignResult } from './assign-result';
import { MaxIoUAssigner, type MaxIoUAssignerOptions } from './max-iou-assigner';

interface AssignCase {
  name: string;
  options: MaxIoUAssignerOptions;
  priors: number[];
  gtBoxes: number[];
  gtLabels: number[];
  gtIgnoreBoxes: number[] | null;
  gtIndices: number[];
  maxOverlaps: number[];
  labels: number[];
}
const fixture = JSON.parse(
  readFileSync(
    new URL('../__fixtures__/primitives/max-iou-assigner.json', import.meta.url),
    'utf8',
  ),
) as { cases: AssignCase[] };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const boxes = (values: number[]) => tf.tensor2d(values, [values.length / 4, 4]);

describe('MaxIoUAssigner against mmdetection’s assign_wrt_overlaps', () => {
  for (const c of fixture.cases) {
    it(`assigns exactly like mmdetection (${c.name})`, () => {
      const before = tf.memory().numTensors;
      const priors = boxes(c.priors);
      const gts = boxes(c.gtBoxes);
      const gtLabels = tf.tensor1d(c.gtLabels, 'int32');
      const gtIgnoreBoxes = c.gtIgnoreBoxes ? boxes(c.gtIgnoreBoxes) : undefined;
      const result = new MaxIoUAssigner(c.options).assign(priors, gts, { gtLabels, gtIgnoreBoxes });
      expect(result.numGts).toBe(c.gtBoxes.length / 4);
      expect(result.gtIndices.dtype).toBe('int32');
      expect(Array.from(result.gtIndices.dataSync())).toEqual(c.gtIndices);
      expect(Array.from(result.maxOverlaps.dataSync())).toEqual(c.maxOverlaps);
      expect(Array.from(result.labels!.dataSync())).toEqual(c.labels);
      disposeAssignResult(result);
      tf.dispose([priors, gts, gtLabels, ...(gtIgnoreBoxes ? [gtIgnoreBoxes] : [])]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('MaxIoUAssigner edge cases', () => {
  const assigner = new MaxIoUAssigner({ posIouThreshold: 0.5, negIouThreshold: 0.4 });
  let priors: tf.Tensor2D;
  beforeAll(() => {
    priors = boxes([0, 0, 10, 10, 0, 0, 10, 5, 20, 20, 30, 30, 50, 50, 50, 50]);
  });

  it('zero gts: every prior negative, labels −1', () => {
    const result = assigner.assign(priors, tf.zeros([0, 4]) as tf.Tensor2D, {
      gtLabels: tf.zeros([0], 'int32') as tf.Tensor1D,
    });
    expect(Array.from(result.gtIndices.dataSync())).toEqual([0, 0, 0, 0]);
    expect(Array.from(result.maxOverlaps.dataSync())).toEqual([0, 0, 0, 0]);
    expect(Array.from(result.labels!.dataSync())).toEqual([-1, -1, -1, -1]);
  });

  it('zero priors: empty results', () => {
    const result = assigner.assign(tf.zeros([0, 4]) as tf.Tensor2D, boxes([0, 0, 1, 1]));
    expect([result.gtIndices.shape, result.maxOverlaps.shape, result.labels]).toEqual([
      [0],
      [0],
      null,
    ]);
  });

  it('IoU exactly on the positive threshold is positive; identical boxes and zero-area priors', () => {
    const gts = boxes([0, 0, 10, 10]);
    const result = new MaxIoUAssigner({
      posIouThreshold: 0.5,
      negIouThreshold: 0.5,
      matchLowQuality: false,
    }).assign(priors, gts, { gtLabels: tf.tensor1d([7], 'int32') });
    // Prior 0 is the gt itself (IoU 1), prior 1 half of it (IoU exactly 0.5), prior 2 disjoint,
    // prior 3 a zero-area point (IoU 0).
    expect(Array.from(result.maxOverlaps.dataSync())).toEqual([1, 0.5, 0, 0]);
    expect(Array.from(result.gtIndices.dataSync())).toEqual([1, 1, 0, 0]);
    expect(Array.from(result.labels!.dataSync())).toEqual([7, 7, -1, -1]);
  });

  it('uses an injected overlap function', () => {
    const calls: string[] = [];
    const custom = new MaxIoUAssigner({
      posIouThreshold: 0.5,
      negIouThreshold: 0.4,
      iouCalculator: (a, b, mode) => {
        calls.push(mode);
        return tf.fill([a.shape[0], b.shape[0]], 0.45) as tf.Tensor2D;
      },
    });
    const result = custom.assign(priors, boxes([0, 0, 1, 1]));
    expect(calls).toEqual(['iou']);
    // Every prior ties at 0.45 for the single gt: neither positive nor negative, but the
    // low-quality rule gives the gt all of its best (tied) priors.
    expect(Array.from(result.gtIndices.dataSync())).toEqual([1, 1, 1, 1]);
  });

  it('rejects bad options and shapes with the field name', () => {
    expect(() => new MaxIoUAssigner({ posIouThreshold: Number.NaN, negIouThreshold: 0.4 })).toThrow(
      /posIouThreshold must be a number/,
    );
    expect(
      () =>
        new MaxIoUAssigner({ posIouThreshold: 0.5, negIouThreshold: [0.1] as unknown as number }),
    ).toThrow(/negIouThreshold as a range must be \[lo, hi\]/);
    expect(() =>
      assigner.assign(priors, boxes([0, 0, 1, 1]), { gtLabels: tf.tensor1d([1, 2], 'int32') }),
    ).toThrow(/gtLabels must have shape \[1\]/);
  });
});
