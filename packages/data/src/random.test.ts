import { describe, expect, it } from 'vitest';
import { createRandom, deriveSeed, permutation } from './random';

describe('createRandom', () => {
  it('repeats a sequence for a seed and differs across seeds', () => {
    const a = Array.from({ length: 5 }, createRandom(7).next);
    const b = Array.from({ length: 5 }, createRandom(7).next);
    const c = Array.from({ length: 5 }, createRandom(8).next);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const value of a) expect(value >= 0 && value < 1).toBe(true);
  });

  it('draws integers inclusively and roughly uniformly', () => {
    const random = createRandom(1);
    const counts = [0, 0, 0];
    for (let index = 0; index < 3000; index++) counts[random.integer(0, 2)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(900);
  });

  it('derives distinct seeds from distinct tuples', () => {
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    expect(deriveSeed(0, 0)).not.toBe(deriveSeed(0, 1));
    expect(deriveSeed(3, 4)).toBe(deriveSeed(3, 4));
  });

  it('permutes every index exactly once', () => {
    const order = permutation(100, createRandom(3));
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(permutation(0, createRandom(3)).length).toBe(0);
  });

  it('rejects a non-finite seed', () => {
    expect(() => createRandom(Number.NaN)).toThrow(/seed/);
  });
});
