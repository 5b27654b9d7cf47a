import { describe, expect, it } from 'vitest';
import golden from './__fixtures__/train.json';
import { learningRateAt, type ScheduleOptions } from './schedule';

describe('learningRateAt against torch.optim.lr_scheduler', () => {
  for (const testCase of golden.schedules) {
    const options = testCase.options as ScheduleOptions;
    it(`${options.policy} with ${options.warmupIters} warmup iterations`, () => {
      testCase.rates.forEach((rate, iteration) => {
        expect(Math.abs(learningRateAt(options, iteration) - rate)).toBeLessThanOrEqual(
          rate * 1e-9,
        );
      });
    });
  }

  it('without warmup or steps the rate is constant', () => {
    const options: ScheduleOptions = {
      baseLr: 0.5,
      policy: 'step',
      warmupIters: 0,
      warmupRatio: 0,
    };
    expect([0, 1, 1000].map((iteration) => learningRateAt(options, iteration))).toEqual([
      0.5, 0.5, 0.5,
    ]);
  });

  it('cosine stays at minLr past maxIters', () => {
    const options: ScheduleOptions = {
      baseLr: 1,
      policy: 'cosine',
      warmupIters: 0,
      warmupRatio: 0,
      maxIters: 10,
      minLr: 0.01,
    };
    expect(learningRateAt(options, 10)).toBeCloseTo(0.01, 12);
    expect(learningRateAt(options, 50)).toBeCloseTo(0.01, 12);
  });

  it('a bad option names the field and the allowed values', () => {
    expect(() =>
      learningRateAt({ baseLr: 1, policy: 'linear' as 'step', warmupIters: 0, warmupRatio: 0 }, 0),
    ).toThrow(`schedule.policy: "linear" is not allowed ('step' or 'cosine')`);
    expect(() =>
      learningRateAt({ baseLr: 1, policy: 'cosine', warmupIters: 0, warmupRatio: 0 }, 0),
    ).toThrow('schedule.maxIters: undefined is not allowed (an integer > 0 for the cosine policy)');
  });
});
