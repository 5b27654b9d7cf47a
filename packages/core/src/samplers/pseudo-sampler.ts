import * as tf from '@tensorflow/tfjs-core';
import { type Reads, readSync } from '../backend/readback';
import { untaped } from '../backend/untaped';
import type { AssignResult } from '../types/assigner';
import type { Sampler, SamplingResult } from '../types/sampler';
import { gtOfPositives, maskIndices } from './index-select';

/** Positive and negative counts of an assignment (one small readback; see `Reads`). */
export function* countAssigned(gtIndices: tf.Tensor1D): Reads<{ numPos: number; numNeg: number }> {
  // The wasm backend's Sum over an empty tensor returns uninitialised memory.
  if (gtIndices.shape[0] === 0) return { numPos: 0, numNeg: 0 };
  const counts = tf.tidy(() =>
    tf.stack([
      tf.sum(tf.cast(tf.greater(gtIndices, 0), 'int32')),
      tf.sum(tf.cast(tf.equal(gtIndices, 0), 'int32')),
    ]),
  );
  try {
    const [numPos, numNeg] = yield counts;
    return { numPos: numPos!, numNeg: numNeg! };
  } finally {
    counts.dispose();
  }
}

/**
 * Takes every positive and every negative prior (mmdetection's `PseudoSampler`): the
 * sampler of dense heads that weigh all priors, e.g. RetinaNet with focal loss.
 */
export class PseudoSampler implements Sampler {
  /** Targets, so nothing here is recorded on a gradient tape (`untaped`). */
  sample(assignResult: AssignResult, priors: tf.Tensor2D, _gtBoxes: tf.Tensor2D): SamplingResult {
    return untaped(() => readSync(this.sampleSteps(assignResult, priors)));
  }

  /** `sample` as steps that yield the tensors it reads back (`readSync` / `readAsync`). */
  *sampleSteps(assignResult: AssignResult, priors: tf.Tensor2D): Reads<SamplingResult> {
    const { gtIndices } = assignResult;
    if (gtIndices.shape[0] !== priors.shape[0]) {
      throw new Error(
        `PseudoSampler.sample: assignResult.gtIndices has ${gtIndices.shape[0]} entries for ${priors.shape[0]} priors`,
      );
    }
    const { numPos, numNeg } = yield* countAssigned(gtIndices);
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
