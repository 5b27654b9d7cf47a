import type { GenerateSyntheticDatasetOptions } from './generate';

/** The embedded default: what the README's first command trains on. */
export const defaultSyntheticOptions = {
  seed: 0,
  trainImages: 1000,
  valImages: 200,
  width: 320,
  height: 320,
} as const satisfies Omit<GenerateSyntheticDatasetOptions, 'outDir'>;
