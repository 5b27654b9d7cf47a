import * as tf from '@tensorflow/tfjs-core';
import { type Reads, readSync } from '../backend/readback';
import { untaped } from '../backend/untaped';
import type { AssignResult } from '../types/assigner';
import type { Sampler, SamplingResult } from '../types/sampler';
import { gtOfPositives, maskIndices, sortIndicesAscending } from './index-select';
import { countAssigned } from './pseudo-sampler';
import { mulberry32 } from './seeded-random';

export interface RandomSamplerOptions {
  /** Total samples per image (positives + negatives), e.g. 256 for RPN, 512 for R-CNN. */
  num: number;
  /** Largest fraction of `num` that may be positive, e.g. 0.5 for RPN, 0.25 for R-CNN. */
  posFraction: number;
  /** At most `negPosUpperBound × max(1, positives)` negatives; −1 (default) for no bound. */
  negPosUpperBound?: number;
  /**
   * Prepend the ground-truth boxes to the candidates as positives (mmdetection's
   * `add_gt_as_proposals`, used by second-stage R-CNN heads). Default false.
   */
  addGtAsProposals?: boolean;
  /** Seed of the sampler's generator; the same seed gives the same samples. Default 0. */
  seed?: number;
}

/**
 * Samples at most `num · posFraction` positives uniformly without replacement, then fills
 * up to `num` with uniformly drawn negatives (mmdetection's `RandomSampler`). A random
 * subset is the top-k of uniform keys over the masked indices, computed on the backend;
 * only the two counts are read back. Indices come back ascending, as after mmdetection's
 * `unique()`.
 */
export class RandomSampler implements Sampler {
  readonly num: number;
  readonly posFraction: number;
  readonly negPosUpperBound: number;
  readonly addGtAsProposals: boolean;
  private readonly nextSeed: () => number;

  constructor(options: RandomSamplerOptions) {
    const { num, posFraction } = options ?? ({} as RandomSamplerOptions);
    if (!(Number.isInteger(num) && num >= 0)) {
      throw new Error(`RandomSampler: num must be an integer ≥ 0, got ${num}`);
    }
    if (!(posFraction >= 0 && posFraction <= 1)) {
      throw new Error(`RandomSampler: posFraction must be in [0, 1], got ${posFraction}`);
    }
    const negPosUpperBound = options.negPosUpperBound ?? -1;
    if (Number.isNaN(negPosUpperBound))
      throw new Error('RandomSampler: negPosUpperBound must be a number, got NaN');
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed))
      throw new Error(`RandomSampler: seed must be an integer, got ${seed}`);
    this.num = num;
    this.posFraction = posFraction;
    this.negPosUpperBound = negPosUpperBound;
    this.addGtAsProposals = options.addGtAsProposals ?? false;
    this.nextSeed = mulberry32(seed);
  }

  /** Targets, so nothing here is recorded on a gradient tape (`untaped`). */
  sample(assignResult: AssignResult, priors: tf.Tensor2D, gtBoxes: tf.Tensor2D): SamplingResult {
    return untaped(() => readSync(this.sampleSteps(assignResult, priors, gtBoxes)));
  }

  /** `sample` as steps that yield the tensors it reads back (`readSync` / `readAsync`). */
  *sampleSteps(
    assignResult: AssignResult,
    priors: tf.Tensor2D,
    gtBoxes: tf.Tensor2D,
  ): Reads<SamplingResult> {
    if (assignResult.gtIndices.shape[0] !== priors.shape[0]) {
      throw new Error(
        `RandomSampler.sample: assignResult.gtIndices has ${assignResult.gtIndices.shape[0]} entries for ${priors.shape[0]} priors`,
      );
    }
    const numGts = gtBoxes.shape[0];
    const addGt = this.addGtAsProposals && numGts > 0;
    // mmdetection's add_gt_: each gt is a positive candidate assigned to itself.
    const gtIndices = addGt
      ? tf.tidy(
          () =>
            tf.concat([tf.range(1, numGts + 1, 1, 'int32'), assignResult.gtIndices]) as tf.Tensor1D,
        )
      : assignResult.gtIndices;
    let counts: { numPos: number; numNeg: number };
    try {
      counts = yield* countAssigned(gtIndices);
    } catch (error) {
      if (addGt) gtIndices.dispose();
      throw error;
    }
    const { numPos: availablePos, numNeg: availableNeg } = counts;
    const numPos = Math.min(availablePos, Math.floor(this.num * this.posFraction));
    let numNeg = this.num - numPos;
    if (this.negPosUpperBound >= 0) {
      numNeg = Math.min(numNeg, Math.floor(this.negPosUpperBound * Math.max(1, numPos)));
    }
    numNeg = Math.min(numNeg, availableNeg);
    const posSeed = Math.floor(this.nextSeed() * 2 ** 31);
    const negSeed = Math.floor(this.nextSeed() * 2 ** 31);

    const result = tf.tidy(() => {
      const posIndices = randomSubset(tf.greater(gtIndices, 0), availablePos, numPos, posSeed);
      const negIndices = randomSubset(tf.equal(gtIndices, 0), availableNeg, numNeg, negSeed);
      const posGtIndices = gtOfPositives(gtIndices, posIndices);
      const candidates = (addGt ? tf.concat([gtBoxes, priors]) : tf.clone(priors)) as tf.Tensor2D;
      return { posIndices, negIndices, posGtIndices, candidates };
    });
    if (addGt) gtIndices.dispose();
    return { ...result, numGtCandidates: addGt ? numGts : 0 };
  }
}

/** `k` of the `count` true entries of `mask`, uniformly without replacement, ascending. */
function randomSubset(mask: tf.Tensor1D, count: number, k: number, seed: number): tf.Tensor1D {
  const all = maskIndices(mask, count);
  if (k >= count) return all;
  const keys = tf.randomUniform([count], 0, 1, 'float32', seed);
  const picked = tf.gather(all, tf.topk(keys, k).indices);
  return sortIndicesAscending(picked as tf.Tensor1D);
}
