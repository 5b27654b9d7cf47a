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

/**
 * A trainable detector: named parameters, a loss record for a batch (one forward in
 * training mode; only sampler counts and NMS read back), and detections in input pixels.
 */
export interface Detector {
  readonly config: DetectorConfig;
  readonly parameters: ParameterStore;
  losses(batch: DetectorBatch): LossRecord;
  predict(
    images: tf.Tensor4D,
    imageShapes: readonly (readonly [number, number])[],
    options?: { proposals?: readonly Float32Array[] },
  ): Detections[];
  /**
   * Positions of the seeded generators the detector draws from while training (samplers,
   * MetaAnchor's jitter), by property path; `@det/train` saves them for exact resume.
   */
  randomState?(): RandomState;
  /** Restores `randomState()`; a generator missing on either side is an error naming it. */
  restoreRandomState?(state: RandomState): void;
  dispose(): void;
}
