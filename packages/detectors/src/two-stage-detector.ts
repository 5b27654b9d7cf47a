import {
  type ParameterStore,
  type RandomState,
  randomStateOf,
  restoreRandomStateOf,
} from '@det/core';
import {
  type AnchorHead,
  type Detections,
  type DetectionTestConfig,
  disposePreparedRoiLoss,
  type LossRecord,
  type PreparedRoiLoss,
  type RoiHead,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { DetectorConfig } from './config';
import type { Detector, DetectorBatch, PreparedLosses } from './detector';
import { type FeaturePyramid, type PreparedSource, type ProposalSource, targetsOf } from './parts';

/** A two-stage detector's prepared step: the proposal source's and the RoI head's. */
interface PreparedTwoStage extends PreparedLosses {
  source: PreparedSource;
  roi: PreparedRoiLoss;
}

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

  losses(batch: DetectorBatch, prepared?: PreparedLosses): LossRecord {
    const step = prepared as PreparedTwoStage | undefined;
    if (step && !(step.source && step.roi)) {
      throw new Error(
        "TwoStageDetector.losses: prepared was not made by this detector's prepareLosses",
      );
    }
    return tf.tidy(() => {
      const features = this.backbone.apply(batch.images, { training: true });
      const source = this.proposals.train(features, batch, step?.source);
      const roiLosses = this.roiHead.loss(
        features.slice(0, this.roiLevels),
        source.proposals,
        targetsOf(batch),
        step?.roi,
      );
      return { ...source.losses, ...roiLosses };
    });
  }

  async prepareLosses(batch: DetectorBatch): Promise<PreparedLosses> {
    if (!this.proposals.prepare) {
      throw new Error(
        'TwoStageDetector.prepareLosses: the proposal source has no prepare(), which a backend without synchronous readback needs',
      );
    }
    // The losses pass runs the backbone again on this batch; the statistics move there only.
    const features = tf.tidy(() =>
      this.backbone.apply(batch.images, { training: true, updateStatistics: false }),
    );
    let source: PreparedSource | undefined;
    try {
      source = await this.proposals.prepare(features, batch);
      const proposals = source.proposals.map((boxes) => tf.tensor2d(boxes, [boxes.length / 4, 4]));
      let roi: PreparedRoiLoss;
      try {
        roi = await this.roiHead.prepareLoss(proposals, targetsOf(batch));
      } finally {
        tf.dispose(proposals);
      }
      const prepared: PreparedTwoStage = {
        source,
        roi,
        dispose: () => {
          source?.dispose();
          disposePreparedRoiLoss(roi);
        },
      };
      return prepared;
    } catch (error) {
      source?.dispose();
      throw error;
    } finally {
      tf.dispose(features);
    }
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

  async predictAsync(
    images: tf.Tensor4D,
    imageShapes: readonly (readonly [number, number])[],
    options: { proposals?: readonly Float32Array[] } = {},
  ): Promise<Detections[]> {
    if (!this.proposals.inferAsync) {
      throw new Error(
        'TwoStageDetector.predictAsync: the proposal source has no inferAsync, which a backend without synchronous readback needs',
      );
    }
    const features = tf.tidy(() => this.backbone.apply(images, { training: false }));
    try {
      const proposals = await this.proposals.inferAsync(features, imageShapes, options.proposals);
      return await this.roiHead.predictAsync(
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
