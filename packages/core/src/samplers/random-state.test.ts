import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { RandomSampler } from './random-sampler';
import { randomStateOf, restoreRandomStateOf, seededGeneratorsOf } from './random-state';
import { disposeSamplingResult } from './sampling-result';
import { isSeededRandom, mulberry32 } from './seeded-random';

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
});

describe('mulberry32 state', () => {
  it('advances by the Weyl increment and continues the same stream from a saved state', () => {
    const random = mulberry32(7);
    expect(random.state()).toBe(7);
    random();
    random();
    expect(random.state()).toBe((7 + 2 * 0x6d2b79f5) >>> 0);
    const saved = random.state();
    const ahead = [random(), random(), random()];
    random.setState(saved);
    expect([random(), random(), random()]).toEqual(ahead);
    expect(isSeededRandom(random)).toBe(true);
    expect(isSeededRandom(() => 0.5)).toBe(false);
    expect(() => random.setState(-1)).toThrow(/unsigned 32-bit integer, got -1/);
    expect(() => random.setState(1.5)).toThrow(/got 1\.5/);
  });
});

/** A sampler's picks among 100 priors (half positive), as plain arrays. */
function draw(sampler: RandomSampler): number[][] {
  const gtIndices = tf.tensor1d(
    Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 1 : 0)),
    'int32',
  );
  const priors = tf.zeros([100, 4]) as tf.Tensor2D;
  const gts = tf.tensor2d([[0, 0, 4, 4]]);
  const maxOverlaps = tf.zeros([100]) as tf.Tensor1D;
  const sampled = sampler.sample({ numGts: 1, gtIndices, maxOverlaps, labels: null }, priors, gts);
  const picks = [
    Array.from(sampled.posIndices.dataSync()),
    Array.from(sampled.negIndices.dataSync()),
  ];
  disposeSamplingResult(sampled);
  tf.dispose([gtIndices, priors, gts, maxOverlaps]);
  return picks;
}

describe('randomStateOf / restoreRandomStateOf', () => {
  it('finds generators inside nested objects, arrays and maps once, by their first path', () => {
    const shared = new RandomSampler({ num: 8, posFraction: 0.5, seed: 3 });
    const jitter = mulberry32(11);
    const weights = tf.zeros([2]);
    const model: Record<string, unknown> = {
      head: { options: { sampler: shared }, weights, codes: [1, 2, 3] },
      roi: [new Map([['sampler', new RandomSampler({ num: 8, posFraction: 0.5, seed: 4 })]])],
      again: shared,
      jitter,
      factory: () => jitter,
    };
    model.self = model;
    expect([...seededGeneratorsOf(model).keys()]).toEqual([
      'head.options.sampler.nextSeed',
      'roi[0].sampler.nextSeed',
      'jitter',
    ]);
    expect(randomStateOf(model)).toEqual({
      'head.options.sampler.nextSeed': 3,
      'roi[0].sampler.nextSeed': 4,
      jitter: 11,
    });
    expect(randomStateOf({ weights, nothing: null })).toEqual({});
    weights.dispose();
  });

  it('a sampler restored mid-stream draws what an uninterrupted one draws', () => {
    const before = tf.memory().numTensors;
    const straight = new RandomSampler({ num: 10, posFraction: 0.5, seed: 5 });
    const expected = [draw(straight), draw(straight), draw(straight)];
    expect(expected[1]).not.toEqual(expected[2]);

    const first = new RandomSampler({ num: 10, posFraction: 0.5, seed: 5 });
    draw(first);
    const saved = JSON.parse(JSON.stringify(randomStateOf({ sampler: first })));
    const second = new RandomSampler({ num: 10, posFraction: 0.5, seed: 5 });
    restoreRandomStateOf({ sampler: second }, saved);
    expect([draw(second), draw(second)]).toEqual(expected.slice(1));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names a generator missing on either side, and a bad position', () => {
    const model = { sampler: new RandomSampler({ num: 4, posFraction: 0.5 }) };
    expect(() => restoreRandomStateOf(model, {})).toThrow(
      'random state: no saved position for the generator "sampler.nextSeed"',
    );
    expect(() => restoreRandomStateOf(model, { 'sampler.nextSeed': 1, 'roi.nextSeed': 2 })).toThrow(
      'random state: the saved generator "roi.nextSeed" does not exist in this model',
    );
    expect(() => restoreRandomStateOf(model, { 'sampler.nextSeed': -3 })).toThrow(
      '"sampler.nextSeed" must be an unsigned 32-bit integer, got -3',
    );
    expect(() => restoreRandomStateOf(model, [] as never)).toThrow(/expected an object/);
    restoreRandomStateOf({}, {});
  });
});
