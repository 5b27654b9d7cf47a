import type { AssignResult, Sampler, SamplingResult } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

/*
 * TEMPORARY adapter (remove once @det/core's samplers return int32 indices): core's
 * `maskIndices` and `posGtIndices` compute `tf.sub(int32, 1)`, which tfjs upcasts to
 * float32, so `gather`/`scatterND` refuse the indices. These two samplers follow core's
 * semantics (mmdetection's PseudoSampler / RandomSampler) with int32 arithmetic.
 */

const one = () => tf.scalar(1, 'int32');

function counts(gtIndices: tf.Tensor1D): [number, number] {
  const packed = tf.tidy(() =>
    tf.stack([
      tf.sum(tf.cast(tf.greater(gtIndices, 0), 'int32')),
      tf.sum(tf.cast(tf.equal(gtIndices, 0), 'int32')),
    ]),
  );
  const [pos, neg] = packed.dataSync();
  packed.dispose();
  return [pos!, neg!];
}

function maskIndices(mask: tf.Tensor1D, count: number): tf.Tensor1D {
  return tf.tidy(() => {
    const n = mask.shape[0];
    const slot = tf.where(mask, tf.sub(tf.cumsum(tf.cast(mask, 'int32')), one()), tf.fill([n], count, 'int32'));
    const scattered = tf.scatterND(tf.reshape(slot, [n, 1]), tf.range(0, n, 1, 'int32'), [count + 1]);
    return tf.slice(scattered, [0], [count]) as tf.Tensor1D;
  });
}

function subset(mask: tf.Tensor1D, available: number, k: number, seed: number): tf.Tensor1D {
  return tf.tidy(() => {
    const all = maskIndices(mask, available);
    if (k >= available) return all;
    const picked = tf.gather(all, tf.topk(tf.randomUniform([available], 0, 1, 'float32', seed), k).indices);
    return tf.neg(tf.topk(tf.neg(picked), k, true).values) as tf.Tensor1D;
  });
}

/** Every positive and negative (mmdetection's `PseudoSampler`). */
export class AllSampler implements Sampler {
  sample(assignResult: AssignResult, priors: tf.Tensor2D): SamplingResult {
    const { gtIndices } = assignResult;
    const [numPos, numNeg] = counts(gtIndices);
    return tf.tidy(() => {
      const posIndices = maskIndices(tf.greater(gtIndices, 0), numPos);
      const negIndices = maskIndices(tf.equal(gtIndices, 0), numNeg);
      const posGtIndices = tf.sub(tf.gather(gtIndices, posIndices), one()) as tf.Tensor1D;
      return { posIndices, negIndices, posGtIndices, candidates: tf.clone(priors), numGtCandidates: 0 };
    });
  }
}

/** mmdetection's `RandomSampler` (`num`, `posFraction`, optional `addGtAsProposals`). */
export class UniformSampler implements Sampler {
  private calls = 0;
  constructor(
    readonly options: { num: number; posFraction: number; addGtAsProposals?: boolean; seed?: number },
  ) {}

  sample(assignResult: AssignResult, priors: tf.Tensor2D, gtBoxes: tf.Tensor2D): SamplingResult {
    const numGts = gtBoxes.shape[0];
    const addGt = (this.options.addGtAsProposals ?? false) && numGts > 0;
    const gtIndices = addGt
      ? (tf.concat([tf.range(1, numGts + 1, 1, 'int32'), assignResult.gtIndices]) as tf.Tensor1D)
      : assignResult.gtIndices;
    const [availablePos, availableNeg] = counts(gtIndices);
    const numPos = Math.min(availablePos, Math.floor(this.options.num * this.options.posFraction));
    const numNeg = Math.min(this.options.num - numPos, availableNeg);
    const seed = (this.options.seed ?? 0) * 7919 + 2 * this.calls++;
    const result = tf.tidy(() => {
      const posIndices = subset(tf.greater(gtIndices, 0), availablePos, numPos, seed);
      const negIndices = subset(tf.equal(gtIndices, 0), availableNeg, numNeg, seed + 1);
      const posGtIndices = tf.sub(tf.gather(gtIndices, posIndices), one()) as tf.Tensor1D;
      const candidates = (addGt ? tf.concat([gtBoxes, priors]) : tf.clone(priors)) as tf.Tensor2D;
      return { posIndices, negIndices, posGtIndices, candidates };
    });
    if (addGt) gtIndices.dispose();
    return { ...result, numGtCandidates: addGt ? numGts : 0 };
  }
}
