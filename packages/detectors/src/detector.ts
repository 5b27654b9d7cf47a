import type { ParameterStore, RandomState } from '@det/core';
import type { Detections, LossRecord } from '@det/heads';
import type * as tf from '@tensorflow/tfjs-core';
import type { DetectorConfig } from './config';

/** What a detector trains on: a collated batch (as `@det/data`'s loader yields it). */
export interface DetectorBatch {
  /** `[B, H, W, 3]` normalised, padded images. */
  images: tf.Tensor4D;
  /** Per image `[G, 4]` xyxy in input pixels. */
  gtBoxes: readonly tf.Tensor2D[];
  /** Per image `[G]` int32 contiguous labels. */
  gtLabels: readonly tf.Tensor1D[];
  gtIgnoreBoxes?: readonly tf.Tensor2D[];
  /** Valid `[height, width]` of each image inside the padding. */
  imageShapes: readonly (readonly [number, number])[];
  /** Fast R-CNN: precomputed proposals per image, `[P·4]` xyxy in input pixels. */
  proposals?: readonly Float32Array[];
}

/** What `Detector.prepareLosses` computed for one batch (opaque to the caller). */
export interface PreparedLosses {
  dispose(): void;
}

/**
 * A trainable detector: named parameters, a loss record for a batch (one forward in
 * training mode; only sampler counts and NMS read back), and detections in input pixels.
 */
export interface Detector {
  readonly config: DetectorConfig;
  readonly parameters: ParameterStore;
  /**
   * `prepared`: what `prepareLosses` computed for this batch; the losses then read nothing back
   * (a backend without synchronous readback, webgpu, needs that inside the gradient closure).
   */
  losses(batch: DetectorBatch, prepared?: PreparedLosses): LossRecord;
  /**
   * A training step's prepare phase: everything data-dependent and detached that `losses`
   * would read back — anchor plans, assignments and sampled anchors, the anchor scheme's
   * targets, proposals and the sampled RoIs — computed with awaited reads (`data()`) from a
   * forward without gradient. Draws the same random numbers `losses(batch)` alone would, so a
   * prepared step trains as a one-pass step does. Dispose the result after the step.
   */
  prepareLosses?(batch: DetectorBatch): Promise<PreparedLosses>;
  predict(
    images: tf.Tensor4D,
    imageShapes: readonly (readonly [number, number])[],
    options?: { proposals?: readonly Float32Array[] },
  ): Detections[];
  /**
   * `predict` with awaited reads only: what a backend without synchronous readback (webgpu)
   * needs. The same detections.
   */
  predictAsync?(
    images: tf.Tensor4D,
    imageShapes: readonly (readonly [number, number])[],
    options?: { proposals?: readonly Float32Array[] },
  ): Promise<Detections[]>;
  /**
   * Positions of the seeded generators the detector draws from while training (samplers,
   * MetaAnchor's jitter), by property path; `@det/train` saves them for exact resume.
   */
  randomState?(): RandomState;
  /** Restores `randomState()`; a generator missing on either side is an error naming it. */
  restoreRandomState?(state: RandomState): void;
  dispose(): void;
}
