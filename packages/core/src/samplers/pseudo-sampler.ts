import * as tf from '@tensorflow/tfjs-core';
import { untaped } from '../backend/untaped';
import type { AssignResult } from '../types/assigner';
import type { Sampler, SamplingResult } from '../types/sampler';
import { gtOfPositives, maskIndices } from './index-select';

/** Positive and negative masks plus their sizes (one small synchronous readback). */
export function countAssigned(gtIndices: tf.Tensor1D): { numPos: number; numNeg: number } {
  // The wasm backend's Sum over an empty tensor returns uninitialised memory.
  if (gtIndices.shape[0] === 0) return { numPos: 0, numNeg: 0 };
  const counts = tf.tidy(() =>
    tf.stack([
      tf.sum(tf.cast(tf.greater(gtIndices, 0), 'int32')),
      tf.sum(tf.cast(tf.equal(gtIndices, 0), 'int32')),
    ]),
  );
  const [numPos, numNeg] = counts.dataSync();
  counts.dispose();
  return { numPos: numPos!, numNeg: numNeg! };
}

/**
 * Takes every positive and every negative prior (mmdetection's `PseudoSampler`): the
 * sampler of dense heads that weigh all priors, e.g. RetinaNet with focal loss.
 */
export class PseudoSampler implements Sampler {
  /** Targets, so nothing here is recorded on a gradient tape (`untaped`). */
  sample(assignResult: AssignResult, priors: tf.Tensor2D, _gtBoxes: tf.Tensor2D): SamplingResult {
    return untaped(() => this.sampleUntaped(assignResult, priors));
  }

  private sampleUntaped(assignResult: AssignResult, priors: tf.Tensor2D): SamplingResult {
    const { gtIndices } = assignResult;
    if (gtIndices.shape[0] !== priors.shape[0]) {
      throw new Error(
        `PseudoSampler.sample: assignResult.gtIndices has ${gtIndices.shape[0]} entries for ${priors.shape[0]} priors`,
      );
    }
    const { numPos, numNeg } = countAssigned(gtIndices);
    return tf.tidy(() => {
      const posIndices = maskIndices(tf.greater(gtIndices, 0), numPos);
      const negIndices = maskIndices(tf.equal(gtIndices, 0), numNeg);
      const posGtIndices = gtOfPositives(gtIndices, posIndices);
      return {
        posIndices,
        negIndices,
        posGtIndices,
        candidates: tf.clone(priors),
        numGtCandidates: 0,
      };
    });
  }
}
