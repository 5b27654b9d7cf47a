import { ResNetFpn } from '@det/backbone';
import type { ParameterStore } from '@det/core';
import {
  type AnchorHead,
  type AnchorLevelOutput,
  type DensePlan,
  disposeLevelOutputs,
  disposePreparedDenseLoss,
  type ImageShape,
  type InferenceLevelOutput,
  type LossRecord,
  type PreparedDenseLoss,
  type ProposalConfig,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { BackboneConfig } from './config';
import type { DetectorBatch, PreparedLosses } from './detector';

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
  /**
   * `updateStatistics: false`: a training-mode pass that leaves running normalisation
   * statistics where they are (a second forward of the same batch in one step).
   */
  apply(
    images: tf.Tensor4D,
    options: { training: boolean; updateStatistics?: boolean },
  ): tf.Tensor4D[];
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
  /**
   * Training: the source's own losses and its detached proposals per image (`[P, 4]`). With
   * `prepared` (from `prepare`) it reads nothing back.
   */
  train(
    features: readonly tf.Tensor4D[],
    batch: DetectorBatch,
    prepared?: PreparedSource,
  ): {
    losses: LossRecord;
    proposals: tf.Tensor2D[];
  };
  /**
   * The prepare phase of a training step (see `Detector.prepareLosses`): the source's own
   * prepared losses and its proposals on the host, with awaited reads.
   */
  prepare?(features: readonly tf.Tensor4D[], batch: DetectorBatch): Promise<PreparedSource>;
  /** Inference: proposals per image on the host (`[P·4]` xyxy in input pixels). */
  infer(
    features: readonly tf.Tensor4D[],
    imageShapes: readonly ImageShape[],
    given: readonly Float32Array[] | undefined,
  ): Float32Array[];
  /** `infer` with awaited reads only (webgpu, which has no synchronous readback). */
  inferAsync?(
    features: readonly tf.Tensor4D[],
    imageShapes: readonly ImageShape[],
    given: readonly Float32Array[] | undefined,
  ): Promise<Float32Array[]>;
  dispose(): void;
}

export function targetsOf(batch: DetectorBatch) {
  return {
    gtBoxes: batch.gtBoxes,
    gtLabels: batch.gtLabels,
    ...(batch.gtIgnoreBoxes ? { gtIgnoreBoxes: batch.gtIgnoreBoxes } : {}),
  };
}

/** A proposal source's prepared step: its dense head's (if any) and its proposals on the host. */
export interface PreparedSource extends PreparedLosses {
  dense?: PreparedDense;
  proposals: Float32Array[];
}

/** A dense head's prepared step: the anchor plan both forwards use and the prepared targets. */
export interface PreparedDense extends PreparedLosses {
  plan: DensePlan;
  loss: PreparedDenseLoss;
}

/** `prepared` as a dense head's prepared step, or an error naming `where`. */
export function preparedDenseOf(prepared: PreparedLosses, where: string): PreparedDense {
  const dense = prepared as Partial<PreparedDense>;
  if (!dense.plan || !dense.loss) {
    throw new Error(`${where}: prepared was not made by this detector's prepareLosses`);
  }
  return prepared as PreparedDense;
}

/**
 * The prepare phase of a dense head on `features` (not disposed): one anchor plan, a forward
 * without gradient, then the head's targets with awaited reads (`AnchorHead.prepareLoss`).
 * With `keepOutputs` it returns the forward's outputs too, which the caller then disposes.
 */
export async function prepareDenseLosses(
  head: AnchorHead,
  features: readonly tf.Tensor4D[],
  batch: DetectorBatch,
): Promise<PreparedDense>;
export async function prepareDenseLosses(
  head: AnchorHead,
  features: readonly tf.Tensor4D[],
  batch: DetectorBatch,
  keepOutputs: true,
): Promise<PreparedDense & { outputs: AnchorLevelOutput[] }>;
export async function prepareDenseLosses(
  head: AnchorHead,
  features: readonly tf.Tensor4D[],
  batch: DetectorBatch,
  keepOutputs = false,
): Promise<PreparedDense & { outputs?: AnchorLevelOutput[] }> {
  const plan = head.plan({ training: true, batchSize: batch.images.shape[0] });
  await head.prepareForward(features);
  const outputs = tf.tidy(
    () => head.forward(features, { training: true, plan }) as unknown as tf.TensorContainer,
  ) as unknown as AnchorLevelOutput[];
  try {
    const loss = await head.prepareLoss(outputs, targetsOf(batch), batch.imageShapes);
    return {
      plan,
      loss,
      dispose: () => disposePreparedDenseLoss(loss, head),
      ...(keepOutputs ? { outputs } : {}),
    };
  } catch (error) {
    if (keepOutputs) disposeLevelOutputs(outputs);
    throw error;
  } finally {
    if (!keepOutputs) disposeLevelOutputs(outputs);
  }
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

  train(features: readonly tf.Tensor4D[], batch: DetectorBatch, prepared?: PreparedSource) {
    const dense = prepared?.dense;
    if (prepared && !dense) {
      throw new Error('DenseProposalSource.train: prepared holds no dense-head step');
    }
    const outputs = this.head.forward(features, {
      training: true,
      ...(dense ? { plan: dense.plan } : {}),
    });
    const losses = this.head.loss(outputs, targetsOf(batch), batch.imageShapes, dense?.loss);
    // Proposals are read back (host NMS) and re-created: no gradient flows through them.
    const boxes =
      prepared?.proposals ??
      this.head.proposals(outputs, batch.imageShapes, this.trainProposals).map((p) => p.boxes);
    return { losses, proposals: boxes.map((b) => tf.tensor2d(b, [b.length / 4, 4])) };
  }

  async prepare(features: readonly tf.Tensor4D[], batch: DetectorBatch): Promise<PreparedSource> {
    const dense = await prepareDenseLosses(this.head, features, batch, true);
    try {
      const proposals = await this.head.proposalsAsync(
        dense.outputs,
        batch.imageShapes,
        this.trainProposals,
      );
      return {
        dense: { plan: dense.plan, loss: dense.loss, dispose: dense.dispose },
        proposals: proposals.map((p) => p.boxes),
        dispose: dense.dispose,
      };
    } catch (error) {
      dense.dispose();
      throw error;
    } finally {
      disposeLevelOutputs(dense.outputs);
    }
  }

  infer(features: readonly tf.Tensor4D[], imageShapes: readonly ImageShape[]): Float32Array[] {
    const outputs = forwardForInference(this.head, features);
    try {
      return this.head.proposals(outputs, imageShapes, this.testProposals).map((p) => p.boxes);
    } finally {
      disposeLevelOutputs(outputs);
    }
  }

  async inferAsync(
    features: readonly tf.Tensor4D[],
    imageShapes: readonly ImageShape[],
  ): Promise<Float32Array[]> {
    await this.head.prepareForward(features);
    const outputs = forwardForInference(this.head, features);
    try {
      const proposals = await this.head.proposalsAsync(outputs, imageShapes, this.testProposals);
      return proposals.map((p) => p.boxes);
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

  async prepare(_features: readonly tf.Tensor4D[], batch: DetectorBatch): Promise<PreparedSource> {
    return {
      proposals: this.take(batch.proposals, batch.gtBoxes.length, 'batch.proposals'),
      dispose: () => {},
    };
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

  async inferAsync(
    features: readonly tf.Tensor4D[],
    imageShapes: readonly ImageShape[],
    given: readonly Float32Array[] | undefined,
  ): Promise<Float32Array[]> {
    return this.infer(features, imageShapes, given);
  }

  dispose(): void {}
}
