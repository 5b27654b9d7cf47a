import { ResNetFpn } from '@det/backbone';
import type { ParameterStore } from '@det/core';
import {
  type AnchorHead,
  disposeLevelOutputs,
  type ImageShape,
  type InferenceLevelOutput,
  type LossRecord,
  type ProposalConfig,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { BackboneConfig } from './config';
import type { DetectorBatch } from './detector';

/**
 * The parts the two meta-architectures are built from. Each is an interface with a default
 * implementation built from config; a user hands `createDetector` their own object instead.
 */

/** Backbone and neck: images to a feature pyramid, finest level first. */
export interface FeaturePyramid {
  /** Stride of every output level, finest first. */
  readonly strides: readonly number[];
  /** Channels of every level. */
  readonly channels: number;
  apply(images: tf.Tensor4D, options: { training: boolean }): tf.Tensor4D[];
}

const pyramidLevels = {
  'p3-p7': { strides: [8, 16, 32, 64, 128], names: ['p3', 'p4', 'p5', 'p6', 'p7'] },
  'p2-p6': { strides: [4, 8, 16, 32, 64], names: ['p2', 'p3', 'p4', 'p5', 'p6'] },
} as const;

export type PyramidLevels = keyof typeof pyramidLevels;

/** ResNet + FPN with RetinaNet's P3–P7 or the two-stage detectors' P2–P6 (`backbone.*` names). */
export function resnetFpnPyramid(
  config: BackboneConfig,
  levels: PyramidLevels,
  store: ParameterStore,
): FeaturePyramid {
  const { fpnChannels, ...resnet } = config;
  const network = new ResNetFpn({
    resnet,
    fpn: { outChannels: fpnChannels, levels },
    store: store.scope('backbone'),
  });
  const { strides, names } = pyramidLevels[levels];
  return {
    strides,
    channels: fpnChannels,
    apply: (images, options) => {
      const outputs = network.apply(images, options) as unknown as Record<string, tf.Tensor4D>;
      return names.map((name) => outputs[name]!);
    },
  };
}

/** Where a two-stage detector's RoIs come from. */
export interface ProposalSource {
  /** The dense head that proposes (undefined for precomputed proposals). */
  readonly head: AnchorHead | undefined;
  /** Training: the source's own losses and its detached proposals per image (`[P, 4]`). */
  train(
    features: readonly tf.Tensor4D[],
    batch: DetectorBatch,
  ): {
    losses: LossRecord;
    proposals: tf.Tensor2D[];
  };
  /** Inference: proposals per image on the host (`[P·4]` xyxy in input pixels). */
  infer(
    features: readonly tf.Tensor4D[],
    imageShapes: readonly ImageShape[],
    given: readonly Float32Array[] | undefined,
  ): Float32Array[];
  dispose(): void;
}

export function targetsOf(batch: DetectorBatch) {
  return {
    gtBoxes: batch.gtBoxes,
    gtLabels: batch.gtLabels,
    ...(batch.gtIgnoreBoxes ? { gtIgnoreBoxes: batch.gtIgnoreBoxes } : {}),
  };
}

/**
 * The head's inference outputs of `features` (which it does not dispose): compact rows at the
 * evaluated anchors where the anchor scheme computes only those (GA's sparse inference).
 */
export function forwardForInference(
  head: AnchorHead,
  features: readonly tf.Tensor4D[],
): InferenceLevelOutput[] {
  return tf.tidy(
    () => head.infer(features) as unknown as tf.TensorContainer,
  ) as unknown as InferenceLevelOutput[];
}

/** A dense head in proposal mode (RPN, GA-RPN, Meta-RPN, …). */
export class DenseProposalSource implements ProposalSource {
  readonly head: AnchorHead;
  private readonly trainProposals: ProposalConfig;
  private readonly testProposals: ProposalConfig;

  constructor(options: {
    head: AnchorHead;
    trainProposals: ProposalConfig;
    testProposals: ProposalConfig;
  }) {
    this.head = options.head;
    this.trainProposals = options.trainProposals;
    this.testProposals = options.testProposals;
  }

  train(features: readonly tf.Tensor4D[], batch: DetectorBatch) {
    const outputs = this.head.forward(features, { training: true });
    const losses = this.head.loss(outputs, targetsOf(batch), batch.imageShapes);
    // Proposals are read back (host NMS) and re-created: no gradient flows through them.
    const proposals = this.head
      .proposals(outputs, batch.imageShapes, this.trainProposals)
      .map((p) => tf.tensor2d(p.boxes, [p.boxes.length / 4, 4]));
    return { losses, proposals };
  }

  infer(features: readonly tf.Tensor4D[], imageShapes: readonly ImageShape[]): Float32Array[] {
    const outputs = forwardForInference(this.head, features);
    try {
      return this.head.proposals(outputs, imageShapes, this.testProposals).map((p) => p.boxes);
    } finally {
      disposeLevelOutputs(outputs);
    }
  }

  dispose(): void {
    this.head.dispose();
  }
}

/** Proposals from files (Fast R-CNN): `batch.proposals` in training, `options.proposals` at inference. */
export class PrecomputedProposalSource implements ProposalSource {
  readonly head = undefined;
  private readonly maxPerImage: number | undefined;

  constructor(options: { maxPerImage?: number | undefined } = {}) {
    this.maxPerImage = options.maxPerImage;
  }

  private take(given: readonly Float32Array[] | undefined, count: number, where: string) {
    if (!given || given.length !== count) {
      throw new Error(
        `${where} must hold one array of precomputed proposals per image (${count}), got ${given?.length ?? 'none'}`,
      );
    }
    const limit = this.maxPerImage;
    return limit === undefined ? [...given] : given.map((boxes) => boxes.subarray(0, limit * 4));
  }

  train(_features: readonly tf.Tensor4D[], batch: DetectorBatch) {
    const given = this.take(batch.proposals, batch.gtBoxes.length, 'batch.proposals');
    return {
      losses: {},
      proposals: given.map((boxes) => tf.tensor2d(boxes, [boxes.length / 4, 4])),
    };
  }

  infer(
    _features: readonly tf.Tensor4D[],
    imageShapes: readonly ImageShape[],
    given: readonly Float32Array[] | undefined,
  ): Float32Array[] {
    return this.take(given, imageShapes.length, 'predict options.proposals');
  }

  dispose(): void {}
}
