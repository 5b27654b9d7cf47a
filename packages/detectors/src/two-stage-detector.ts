import {
  type ParameterStore,
  type RandomState,
  randomStateOf,
  restoreRandomStateOf,
} from '@det/core';
import type { AnchorHead, Detections, DetectionTestConfig, LossRecord, RoiHead } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { DetectorConfig } from './config';
import type { Detector, DetectorBatch } from './detector';
import { type FeaturePyramid, type ProposalSource, targetsOf } from './parts';

export interface TwoStageDetectorOptions {
  config: DetectorConfig;
  /** The store every part's parameters live in. */
  parameters: ParameterStore;
  backbone: FeaturePyramid;
  proposals: ProposalSource;
  roiHead: RoiHead;
  /** How many of the finest pyramid levels the RoI head pools (FPN: P2–P5, 4). */
  roiLevels: number;
  test: DetectionTestConfig;
}

/**
 * Backbone → neck → proposal source → RoI head: Faster R-CNN (RPN proposals), Fast R-CNN
 * (precomputed proposals), GA-Faster R-CNN (GA-RPN), Meta-Faster R-CNN (Meta-RPN), …, trained
 * end to end (approximate joint training): the source's losses plus the RoI head's on its
 * detached proposals, sampled with the ground truth added.
 */
export class TwoStageDetector implements Detector {
  readonly config: DetectorConfig;
  readonly parameters: ParameterStore;
  readonly backbone: FeaturePyramid;
  readonly proposals: ProposalSource;
  readonly roiHead: RoiHead;
  private readonly roiLevels: number;
  private readonly test: DetectionTestConfig;

  constructor(options: TwoStageDetectorOptions) {
    this.config = options.config;
    this.parameters = options.parameters;
    this.backbone = options.backbone;
    this.proposals = options.proposals;
    this.roiHead = options.roiHead;
    this.roiLevels = options.roiLevels;
    this.test = options.test;
  }

  /** The proposal source's dense head, if it has one. */
  get denseHead(): AnchorHead | undefined {
    return this.proposals.head;
  }

  losses(batch: DetectorBatch): LossRecord {
    return tf.tidy(() => {
      const features = this.backbone.apply(batch.images, { training: true });
      const source = this.proposals.train(features, batch);
      const roiLosses = this.roiHead.loss(
        features.slice(0, this.roiLevels),
        source.proposals,
        targetsOf(batch),
      );
      return { ...source.losses, ...roiLosses };
    });
  }

  predict(
    images: tf.Tensor4D,
    imageShapes: readonly (readonly [number, number])[],
    options: { proposals?: readonly Float32Array[] } = {},
  ): Detections[] {
    const features = tf.tidy(() => this.backbone.apply(images, { training: false }));
    try {
      const proposals = this.proposals.infer(features, imageShapes, options.proposals);
      return this.roiHead.predict(
        features.slice(0, this.roiLevels),
        proposals,
        imageShapes,
        this.test,
      );
    } finally {
      tf.dispose(features);
    }
  }

  /**
   * Positions of the seeded generators the parts draw from while training (the RPN's anchor sampler, the RoI sampler, GA's shape sampler, MetaAnchor's jitter),
   * by property path: saved in checkpoints so a resumed run samples what an uninterrupted one
   * would (`@det/train`'s `Trainable.randomState`).
   */
  randomState(): RandomState {
    return randomStateOf(this.randomParts());
  }

  /** Restores `randomState()`; a generator missing on either side is an error naming its path. */
  restoreRandomState(state: RandomState): void {
    restoreRandomStateOf(this.randomParts(), state);
  }

  private randomParts(): object {
    return { backbone: this.backbone, proposals: this.proposals, roiHead: this.roiHead };
  }

  dispose(): void {
    this.proposals.dispose();
    this.parameters.dispose();
  }
}
