import type { ParameterStore } from '@det/core';
import type * as tf from '@tensorflow/tfjs-core';

/** A JSON value (what positions and random states are saved as). */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * Anything the engine can train: named parameters and a record of scalar losses for a batch
 * (summed into the objective). Detectors satisfy it; so does a two-weight regression.
 */
export interface Trainable<Batch> {
  readonly parameters: ParameterStore;
  losses(batch: Batch): Record<string, tf.Scalar>;
  /** State of random generators used by `losses` (e.g. a sampler's), saved for exact resume. */
  randomState?(): JsonValue;
  restoreRandomState?(state: JsonValue): void;
}
