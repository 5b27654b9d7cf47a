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
  /** `prepared`: what `prepareLosses` returned for this batch (then nothing is read back). */
  losses(batch: Batch, prepared?: PreparedStep): Record<string, tf.Scalar>;
  /**
   * A step's prepare phase: what `losses` would read back (targets, samples, proposals),
   * computed with awaited reads. `Trainer.stepAsync` calls it on a backend without
   * synchronous readback (webgpu), then `losses(batch, prepared)` inside the gradient closure.
   */
  prepareLosses?(batch: Batch): Promise<PreparedStep>;
  /** State of random generators used by `losses` (e.g. a sampler's), saved for exact resume. */
  randomState?(): JsonValue;
  restoreRandomState?(state: JsonValue): void;
}

/** What a `Trainable`'s prepare phase computed for one batch; freed after the step. */
export interface PreparedStep {
  dispose(): void;
}
