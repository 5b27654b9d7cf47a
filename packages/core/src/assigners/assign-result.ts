import * as tf from '@tensorflow/tfjs-core';
import type { AssignResult } from '../types/assigner';

/** Disposes every tensor of an assignment. */
export function disposeAssignResult(result: AssignResult): void {
  tf.dispose([result.gtIndices, result.maxOverlaps, ...(result.labels ? [result.labels] : [])]);
}
