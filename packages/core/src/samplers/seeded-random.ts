const SEEDED_RANDOM = Symbol.for('@det/core.seededRandom');

/**
 * A seeded generator: call it for the next number in [0, 1). Its 32-bit `state` can be read
 * and set, so a stream stopped at a checkpoint continues exactly where it was.
 */
export interface SeededRandom {
  (): number;
  /** The generator's position (an unsigned 32-bit integer). */
  state(): number;
  /** Moves the generator to a position read with `state()`. */
  setState(state: number): void;
}

/** Whether `value` is a generator made by `mulberry32`. */
export function isSeededRandom(value: unknown): value is SeededRandom {
  return typeof value === 'function' && SEEDED_RANDOM in value;
}

/**
 * mulberry32: a tiny seeded 32-bit generator, enough to draw per-call seeds so that a
 * sampler constructed with the same seed makes the same choices call after call.
 */
export function mulberry32(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Object.assign(next, {
    [SEEDED_RANDOM]: true,
    state: () => state,
    setState: (value: number) => {
      if (!(Number.isInteger(value) && value >= 0 && value <= 0xffffffff)) {
        throw new Error(`mulberry32: state must be an unsigned 32-bit integer, got ${value}`);
      }
      state = value;
    },
  });
}
