import * as tf from '@tensorflow/tfjs-core';
import type { SamplingResult } from '../types/sampler';

/** Disposes every tensor of a sampling result. */
export function disposeSamplingResult(result: SamplingResult): void {
  tf.dispose([result.posIndices, result.negIndices, result.posGtIndices, result.candidates]);
}
