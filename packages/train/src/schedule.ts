/** A learning-rate schedule by iteration, as mmcv's `LrUpdaterHook` policies. */
export interface ScheduleOptions {
  /** The rate after warmup and before any decay. */
  baseLr: number;
  /** `step`: ×gamma at each of `steps`; `cosine`: half a cosine from baseLr to minLr at maxIters. */
  policy: 'step' | 'cosine';
  /** Iterations of linear warmup from `warmupRatio · lr` (0: none). */
  warmupIters: number;
  warmupRatio: number;
  /** `step` policy: iterations at which the rate is multiplied by `gamma`. */
  steps?: readonly number[];
  gamma?: number;
  /** `cosine` policy: the iteration the cosine reaches `minLr` (the run's length). */
  maxIters?: number;
  minLr?: number;
}

function check(options: ScheduleOptions): void {
  const fail = (field: string, value: unknown, allowed: string): never => {
    throw new Error(`schedule.${field}: ${JSON.stringify(value)} is not allowed (${allowed})`);
  };
  if (!(options.baseLr >= 0)) fail('baseLr', options.baseLr, 'a number ≥ 0');
  if (options.policy !== 'step' && options.policy !== 'cosine')
    fail('policy', options.policy, "'step' or 'cosine'");
  if (!Number.isInteger(options.warmupIters) || options.warmupIters < 0)
    fail('warmupIters', options.warmupIters, 'an integer ≥ 0');
  if (options.policy === 'cosine' && !(Number.isInteger(options.maxIters) && options.maxIters! > 0))
    fail('maxIters', options.maxIters, 'an integer > 0 for the cosine policy');
}

/**
 * The rate at iteration `iteration` (0-based), with mmcv's linear warmup: during the first
 * `warmupIters` the regular rate is multiplied by `warmupRatio + (1 − warmupRatio)·iter/warmupIters`
 * (= torch's `LinearLR(start_factor=warmupRatio)` chained with the decay).
 */
export function learningRateAt(options: ScheduleOptions, iteration: number): number {
  check(options);
  let regular: number;
  if (options.policy === 'step') {
    const passed = (options.steps ?? []).filter((step) => iteration >= step).length;
    regular = options.baseLr * (options.gamma ?? 0.1) ** passed;
  } else {
    const minLr = options.minLr ?? 0;
    const progress = Math.min(iteration, options.maxIters!) / options.maxIters!;
    regular = minLr + ((options.baseLr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  }
  if (iteration >= options.warmupIters) return regular;
  const ratio = options.warmupRatio;
  return regular * (ratio + ((1 - ratio) * iteration) / options.warmupIters);
}
