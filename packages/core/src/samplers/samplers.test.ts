import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import type { AssignResult } from '../types/assigner';
import { PseudoSampler } from './pseudo-sampler';
import { RandomSampler } from './random-sampler';
import { disposeSamplingResult } from './sampling-result';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

function assignment(gtIndices: number[], numGts: number): AssignResult {
  return {
    numGts,
    gtIndices: tf.tensor1d(gtIndices, 'int32'),
    maxOverlaps: tf.zeros([gtIndices.length]) as tf.Tensor1D,
    labels: null,
  };
}

/** 1000 priors: every 10th positive (gt (i/10) % 3), every 7th otherwise ignored, the rest negative. */
function bigAssignment(): {
  values: number[];
  result: AssignResult;
  priors: tf.Tensor2D;
  gts: tf.Tensor2D;
} {
  const values = Array.from({ length: 1000 }, (_, i) =>
    i % 10 === 0 ? ((i / 10) % 3) + 1 : i % 7 === 0 ? -1 : 0,
  );
  return {
    values,
    result: assignment(values, 3),
    priors: tf.tensor2d(
      Array.from({ length: 4000 }, (_, i) => i),
      [1000, 4],
    ),
    gts: tf.tensor2d([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6], [3, 4]),
  };
}

const read = (t: tf.Tensor) => Array.from(t.dataSync());

describe('PseudoSampler', () => {
  it('takes all positives and negatives in ascending order, with their gts', () => {
    const { values, result, priors, gts } = bigAssignment();
    const before = tf.memory().numTensors;
    const sampled = new PseudoSampler().sample(result, priors, gts);
    const pos = values.flatMap((v, i) => (v > 0 ? [i] : []));
    const neg = values.flatMap((v, i) => (v === 0 ? [i] : []));
    expect(read(sampled.posIndices)).toEqual(pos);
    expect(read(sampled.negIndices)).toEqual(neg);
    expect(read(sampled.posGtIndices)).toEqual(pos.map((i) => values[i]! - 1));
    expect(sampled.posIndices.dtype).toBe('int32');
    expect(sampled.candidates.shape).toEqual([1000, 4]);
    disposeSamplingResult(sampled);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('handles zero priors and no positives', () => {
    const empty = new PseudoSampler().sample(
      assignment([], 0),
      tf.zeros([0, 4]) as tf.Tensor2D,
      tf.zeros([0, 4]) as tf.Tensor2D,
    );
    expect([empty.posIndices.shape, empty.negIndices.shape]).toEqual([[0], [0]]);
    const noPos = new PseudoSampler().sample(
      assignment([0, -1, 0], 0),
      tf.zeros([3, 4]) as tf.Tensor2D,
      tf.zeros([0, 4]) as tf.Tensor2D,
    );
    expect([read(noPos.posIndices), read(noPos.negIndices)]).toEqual([[], [0, 2]]);
  });
});

describe('RandomSampler', () => {
  it('samples at most num·posFraction positives and fills up with negatives, without repeats', () => {
    const { values, result, priors, gts } = bigAssignment();
    const before = tf.memory().numTensors;
    const sampler = new RandomSampler({ num: 64, posFraction: 0.25, seed: 1 });
    const sampled = sampler.sample(result, priors, gts);
    const pos = read(sampled.posIndices);
    const neg = read(sampled.negIndices);
    expect(pos.length).toBe(16);
    expect(neg.length).toBe(48);
    expect(pos.every((i) => values[i]! > 0)).toBe(true);
    expect(neg.every((i) => values[i] === 0)).toBe(true);
    expect([...pos].sort((a, b) => a - b)).toEqual(pos);
    expect(new Set(neg).size).toBe(48);
    expect(read(sampled.posGtIndices)).toEqual(pos.map((i) => values[i]! - 1));
    disposeSamplingResult(sampled);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is reproducible from its seed and varies between calls', () => {
    const { result, priors, gts } = bigAssignment();
    const draw = (sampler: RandomSampler) => read(sampler.sample(result, priors, gts).negIndices);
    const a = new RandomSampler({ num: 32, posFraction: 0.5, seed: 7 });
    const b = new RandomSampler({ num: 32, posFraction: 0.5, seed: 7 });
    const first = draw(a);
    expect(draw(b)).toEqual(first);
    expect(draw(a)).not.toEqual(first);
  });

  it('bounds negatives by negPosUpperBound × max(1, positives)', () => {
    const sampler = new RandomSampler({ num: 100, posFraction: 0.5, negPosUpperBound: 3 });
    const few = sampler.sample(
      assignment([1, 0, 0, 0, 0, 0, 0, 0, 2, 0], 2),
      tf.zeros([10, 4]) as tf.Tensor2D,
      tf.zeros([2, 4]) as tf.Tensor2D,
    );
    expect([few.posIndices.shape[0], few.negIndices.shape[0]]).toEqual([2, 6]);
    const none = sampler.sample(
      assignment([0, 0, 0, 0, 0], 0),
      tf.zeros([5, 4]) as tf.Tensor2D,
      tf.zeros([0, 4]) as tf.Tensor2D,
    );
    expect([none.posIndices.shape[0], none.negIndices.shape[0]]).toEqual([0, 3]);
  });

  it('adds ground truth as proposals ahead of the priors', () => {
    const sampler = new RandomSampler({ num: 10, posFraction: 0.5, addGtAsProposals: true });
    const priors = tf.tensor2d([0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 3, 3], [3, 4]);
    const gts = tf.tensor2d([5, 5, 6, 6, 7, 7, 8, 8], [2, 4]);
    const sampled = sampler.sample(assignment([2, 0, -1], 2), priors, gts);
    expect(sampled.numGtCandidates).toBe(2);
    expect(sampled.candidates.shape).toEqual([5, 4]);
    expect(read(sampled.posIndices)).toEqual([0, 1, 2]);
    expect(read(sampled.posGtIndices)).toEqual([0, 1, 1]);
    expect(read(sampled.negIndices)).toEqual([3]);
  });

  it('rejects bad options', () => {
    expect(() => new RandomSampler({ num: 1.5, posFraction: 0.5 })).toThrow(
      /num must be an integer/,
    );
    expect(() => new RandomSampler({ num: 8, posFraction: 2 })).toThrow(
      /posFraction must be in \[0, 1\]/,
    );
  });
});
