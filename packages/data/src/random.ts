import { mulberry32 } from '@det/core';

/**
 * A small seeded PRNG (mulberry32). Everything random in @det/data (synthetic images,
 * shuffles, augmentations) draws from one of these, so a seed reproduces a run exactly.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [low, high). */
  uniform(low: number, high: number): number;
  /** Integer uniform in [low, high] (both inclusive). */
  integer(low: number, high: number): number;
  /** True with the given probability. */
  chance(probability: number): boolean;
}

/** Mixes any number of integers into one 32-bit seed (murmur3's finaliser per part). */
export function deriveSeed(...parts: number[]): number {
  let hash = 0x9e3779b9;
  for (const part of parts) {
    let value = Math.floor(part) >>> 0;
    // High bits matter for large seeds/epochs too.
    const high = Math.floor(part / 0x100000000) >>> 0;
    value ^= Math.imul(high, 0x85ebca6b);
    hash = Math.imul(hash ^ value, 0xcc9e2d51);
    hash = (hash << 15) | (hash >>> 17);
    hash = Math.imul(hash, 0x1b873593);
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
    hash ^= hash >>> 16;
  }
  return hash >>> 0;
}

export function createRandom(seed: number): Random {
  if (!Number.isFinite(seed))
    throw new Error(`createRandom: seed must be a finite number, got ${seed}`);
  const next = mulberry32(deriveSeed(seed));
  return {
    next,
    uniform: (low, high) => low + (high - low) * next(),
    integer: (low, high) => low + Math.floor(next() * (high - low + 1)),
    chance: (probability) => next() < probability,
  };
}

/** Fisher-Yates permutation of 0..length-1. */
export function permutation(length: number, random: Random): Int32Array {
  const order = new Int32Array(length);
  for (let index = 0; index < length; index++) order[index] = index;
  for (let index = length - 1; index > 0; index--) {
    const other = Math.floor(random.next() * (index + 1));
    const swap = order[index]!;
    order[index] = order[other]!;
    order[other] = swap;
  }
  return order;
}
