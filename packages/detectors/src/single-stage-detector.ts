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
  disposeLevelOutputs,
  type InferenceLevelOutput,
  type LossRecord,
  type ProposalConfig,
  type Proposals,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { DetectorConfig } from './config';
import type { Detector, DetectorBatch, PreparedLosses } from './detector';
import {
  type FeaturePyramid,
  forwardForInference,
  prepareDenseLosses,
  preparedDenseOf,
  targetsOf,
} from './parts';

/** What a single-stage detector outputs: detections (RetinaNet-style) or proposals (RPN-style). */
export type SingleStageOutput =
  | { mode: 'detections'; test: DetectionTestConfig }
  | { mode: 'proposals'; test: ProposalConfig };

export interface SingleStageDetectorOptions {
  config: DetectorConfig;
  /** The store every part's parameters live in. */
  parameters: ParameterStore;
  backbone: FeaturePyramid;
  head: AnchorHead;
  output: SingleStageOutput;
}

/** Proposals as class-0 detections (an RPN's output). */
export function proposalsAsDetections(proposals: readonly Proposals[]): Detections[] {
  return proposals.map((p) => ({
    boxes: p.boxes,
    scores: p.scores,
    labels: new Int32Array(p.scores.length),
  }));
}

/**
 * Backbone → neck → dense head: RetinaNet, RPN, GA-RetinaNet, GA-RPN, MetaAnchor RetinaNet,
 * Meta-RPN and meta-guided variants are all this class with another head or anchor scheme.
 */
export class SingleStageDetector implements Detector {
  readonly config: DetectorConfig;
  readonly parameters: ParameterStore;
  readonly backbone: FeaturePyramid;
  readonly head: AnchorHead;
  readonly output: SingleStageOutput;

  constructor(options: SingleStageDetectorOptions) {
    this.config = options.config;
    this.parameters = options.parameters;
    this.backbone = options.backbone;
    this.head = options.head;
    this.output = options.output;
    const levels = this.backbone.strides.join(', ');
    if (levels !== this.head.strides.join(', ')) {
      throw new Error(
        `SingleStageDetector: the backbone's strides [${levels}] differ from the head's [${this.head.strides.join(', ')}]`,
      );
    }
  }

  /** The dense head (every single-stage detector has one). */
  get denseHead(): AnchorHead {
    return this.head;
  }

  losses(batch: DetectorBatch, prepared?: PreparedLosses): LossRecord {
    const dense = prepared ? preparedDenseOf(prepared, 'SingleStageDetector.losses') : undefined;
    return tf.tidy(() => {
      const features = this.backbone.apply(batch.images, { training: true });
      const outputs = this.head.forward(features, {
        training: true,
        ...(dense ? { plan: dense.plan } : {}),
      });
      return this.head.loss(outputs, targetsOf(batch), batch.imageShapes, dense?.loss);
    });
  }

  async prepareLosses(batch: DetectorBatch): Promise<PreparedLosses> {
    // The losses pass runs the backbone again on this batch; the statistics move there only.
    const features = tf.tidy(() =>
      this.backbone.apply(batch.images, { training: true, updateStatistics: false }),
    );
    try {
      return await prepareDenseLosses(this.head, features, batch);
    } finally {
      tf.dispose(features);
    }
  }

  predict(images: tf.Tensor4D, imageShapes: readonly (readonly [number, number])[]): Detections[] {
    const outputs = tf.tidy(
      () =>
        forwardForInference(
          this.head,
          this.backbone.apply(images, { training: false }),
        ) as unknown as tf.TensorContainer,
    ) as unknown as ReturnType<AnchorHead['forward']>;
    try {
      return this.output.mode === 'detections'
        ? this.head.predict(outputs, imageShapes, this.output.test)
        : proposalsAsDetections(this.head.proposals(outputs, imageShapes, this.output.test));
    } finally {
      disposeLevelOutputs(outputs);
    }
  }

  async predictAsync(
    images: tf.Tensor4D,
    imageShapes: readonly (readonly [number, number])[],
  ): Promise<Detections[]> {
    const features = tf.tidy(() => this.backbone.apply(images, { training: false }));
    let outputs: InferenceLevelOutput[];
    try {
      await this.head.prepareForward(features);
      outputs = forwardForInference(this.head, features);
    } finally {
      tf.dispose(features);
    }
    try {
      return this.output.mode === 'detections'
        ? await this.head.predictAsync(outputs, imageShapes, this.output.test)
        : proposalsAsDetections(
            await this.head.proposalsAsync(outputs, imageShapes, this.output.test),
          );
    } finally {
      disposeLevelOutputs(outputs);
    }
  }

  /**
   * Positions of the seeded generators the parts draw from while training (MetaAnchor's jitter, GA's shape sampler, an RPN head's anchor sampler),
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
    return { backbone: this.backbone, head: this.head };
  }

  dispose(): void {
    this.head.dispose();
    this.parameters.dispose();
  }
}
