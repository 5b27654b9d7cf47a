import {
  type Assigner,
  type AssignResult,
  type BoxCoder,
  DeltaXYWHBoxCoder,
  disposeAssignResult,
  disposeSamplingResult,
  Linear,
  MaxIoUAssigner,
  multiLevelRoiAlign,
  normal,
  type ParameterStore,
  RandomSampler,
  type Reads,
  readAsync,
  readSync,
  type Sampler,
  type SamplingResult,
  xavierUniform,
  zeros,
} from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { ignoreCoveredWithoutGts } from './anchor-head';
import { checkImageShapes } from './image-shapes';
import { l1RegressionLoss, softmaxClassificationLoss } from './loss-functions';
import { type DetectionTestConfig, detectionTestDefaults, multiclassNms } from './post-process';
import type {
  ClassificationLoss,
  Detections,
  HeadTargets,
  ImageShape,
  LossRecord,
  RegressionLoss,
} from './types';

export interface RoiHeadOptions {
  store: ParameterStore;
  /** FPN channels. */
  inChannels: number;
  numClasses: number;
  /** Strides of the pooled levels, finest first (P2–P5: `[4, 8, 16, 32]`). */
  featmapStrides: readonly number[];
  /** Width of the two shared fc layers. Default 1024. */
  fcChannels?: number;
  /** RoIAlign output size. Default 7. */
  roiSize?: number;
  /** RoIAlign samples per bin; 0 = adaptive (mmdetection's default). */
  samplingRatio?: number;
  /** Default IoU ≥ 0.5 positive, < 0.5 negative, no low-quality matches (mmdetection `rcnn`). */
  assigner?: Assigner;
  /** Default 512 RoIs per image at most 25 % positive, ground truth added as proposals. */
  sampler?: Sampler;
  /** Default deltas with stds (0.1, 0.1, 0.2, 0.2). */
  coder?: BoxCoder;
  clsLoss?: ClassificationLoss;
  regLoss?: RegressionLoss;
  seed?: number;
}

/** A batch's sampled RoIs: `[R, 4]` boxes, `[R]` labels (K = background), positives' targets. */
interface SampledRois {
  rois: tf.Tensor2D | null;
  labels: tf.Tensor1D | null;
  posLabels: tf.Tensor1D | null;
  posTargets: tf.Tensor2D | null;
  /** Rows of the positives among the R RoIs. */
  posRows: number[];
  /** Image of each RoI. */
  batchIndices: number[];
}

/** What `RoiHead.prepareLoss` computed: the sampled RoIs, also on the host for RoIAlign. */
export interface PreparedRoiLoss {
  sampled: SampledRois;
  hostRois: Float32Array | null;
}

/** Frees a `PreparedRoiLoss`. */
export function disposePreparedRoiLoss(prepared: PreparedRoiLoss): void {
  const { rois, labels, posLabels, posTargets } = prepared.sampled;
  tf.dispose([rois, labels, posLabels, posTargets].filter((t) => t !== null));
}

/**
 * The Faster R-CNN box head with FPN (mmdetection's `StandardRoIHead` +
 * `Shared2FCBBoxHead`): multi-level RoIAlign 7×7 (FPN eq. 1 level mapping), two shared fc
 * layers, softmax over K + 1 classes (background = K) and class-specific deltas.
 */
export class RoiHead {
  readonly numClasses: number;
  readonly coder: BoxCoder;
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  private readonly cls: Linear;
  private readonly reg: Linear;
  private readonly assigner: Assigner;
  private readonly sampler: Sampler;
  private readonly clsLoss: ClassificationLoss;
  private readonly regLoss: RegressionLoss;
  private readonly roiSize: number;
  private readonly samplingRatio: number;
  private readonly spatialScales: number[];

  constructor(options: RoiHeadOptions) {
    const fcChannels = options.fcChannels ?? 1024;
    this.roiSize = options.roiSize ?? 7;
    this.samplingRatio = options.samplingRatio ?? 0;
    this.numClasses = options.numClasses;
    this.spatialScales = options.featmapStrides.map((stride) => 1 / stride);
    const store = options.store.scope('bbox_head');
    const xavier = xavierUniform();
    this.fc1 = new Linear(store.scope('shared_fcs.0'), {
      inFeatures: options.inChannels * this.roiSize * this.roiSize,
      outFeatures: fcChannels,
      weightInit: xavier,
      biasInit: zeros,
    });
    this.fc2 = new Linear(store.scope('shared_fcs.1'), {
      inFeatures: fcChannels,
      outFeatures: fcChannels,
      weightInit: xavier,
      biasInit: zeros,
    });
    this.cls = new Linear(store.scope('fc_cls'), {
      inFeatures: fcChannels,
      outFeatures: options.numClasses + 1,
      weightInit: normal({ std: 0.01 }),
      biasInit: zeros,
    });
    this.reg = new Linear(store.scope('fc_reg'), {
      inFeatures: fcChannels,
      outFeatures: options.numClasses * 4,
      weightInit: normal({ std: 0.001 }),
      biasInit: zeros,
    });
    this.assigner =
      options.assigner ??
      new MaxIoUAssigner({
        posIouThreshold: 0.5,
        negIouThreshold: 0.5,
        minPosIou: 0.5,
        matchLowQuality: false,
      });
    this.sampler =
      options.sampler ??
      new RandomSampler({
        num: 512,
        posFraction: 0.25,
        negPosUpperBound: -1,
        addGtAsProposals: true,
        seed: options.seed ?? 0,
      });
    this.coder =
      options.coder ?? new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [0.1, 0.1, 0.2, 0.2] });
    this.clsLoss = options.clsLoss ?? softmaxClassificationLoss();
    this.regLoss = options.regLoss ?? l1RegressionLoss();
  }

  /** Class logits `[R, K + 1]` and class-specific deltas `[R, K·4]` of RoIs (xyxy, input pixels). */
  forward(
    features: readonly tf.Tensor4D[],
    rois: tf.Tensor2D | Float32Array,
    batchIndices: number[],
  ): { cls: tf.Tensor2D; deltas: tf.Tensor2D } {
    const count = rois instanceof Float32Array ? rois.length / 4 : rois.shape[0];
    if (features.length !== this.spatialScales.length) {
      throw new Error(
        `RoiHead.forward: got ${features.length} levels for ${this.spatialScales.length} featmapStrides`,
      );
    }
    return tf.tidy(() => {
      const pooled = multiLevelRoiAlign([...features], rois, batchIndices, {
        spatialScales: this.spatialScales,
        outputSize: this.roiSize,
        samplingRatio: this.samplingRatio,
        aligned: true,
      });
      const flat = tf.reshape(pooled, [count, -1]) as tf.Tensor2D;
      const hidden = tf.relu(this.fc2.apply(tf.relu(this.fc1.apply(flat)))) as tf.Tensor2D;
      return { cls: this.cls.apply(hidden), deltas: this.reg.apply(hidden) };
    });
  }

  /**
   * `loss_cls` (softmax CE) and `loss_bbox` (L1 on the positives' own-class deltas), both
   * averaged over all sampled RoIs (mmdetection `avg_factor = bbox_targets.size(0)`).
   * `proposals` are per image `[P, 4]` and carry no gradient.
   */
  loss(
    features: readonly tf.Tensor4D[],
    proposals: readonly tf.Tensor2D[],
    targets: HeadTargets,
    prepared?: PreparedRoiLoss,
  ): LossRecord {
    const K = this.numClasses;
    return tf.tidy(() => {
      let sampled = prepared?.sampled;
      if (!sampled) {
        const samplings = proposals.map((imageProposals, image) => {
          const assignment = this.assign(imageProposals, targets, image);
          const sampling = this.sampler.sample(assignment, imageProposals, targets.gtBoxes[image]!);
          disposeAssignResult(assignment);
          return sampling;
        });
        sampled = this.collect(samplings, targets);
      }
      const { rois, batchIndices, labels, posRows, posLabels, posTargets } = sampled;
      if (rois === null && proposals.some((p) => p.shape[0] > 0)) {
        // Every RoI is ignored (all objects of the batch are ignore regions, e.g. MetaAnchor's
        // "drop"): zero losses, still a function of the head's weights for the optimiser.
        const probe = this.forward(features, Float32Array.of(0, 0, 1, 1), [0]);
        const zero = tf.add(tf.mul(tf.sum(probe.cls), 0), tf.mul(tf.sum(probe.deltas), 0));
        return { loss_cls: zero as tf.Scalar, loss_bbox: tf.clone(zero) as tf.Scalar };
      }
      if (rois === null || labels === null) {
        throw new Error(
          'RoiHead.loss: no RoI was sampled in the batch (no proposals and no ground truth)',
        );
      }
      const roiInput = prepared ? (prepared.hostRois as Float32Array) : rois;
      const { cls, deltas } = this.forward(features, roiInput, batchIndices);
      const total = batchIndices.length;
      const clsLoss = this.clsLoss(cls, labels, tf.ones([total]) as tf.Tensor1D);
      let regLoss: tf.Scalar;
      if (posLabels === null || posTargets === null) {
        regLoss = tf.mul(tf.sum(deltas), 0) as tf.Scalar;
      } else {
        // Row r's own-class deltas sit at flat row r·K + label of the [R·K, 4] view.
        const flatIndex = tf.add(
          tf.mul(tf.tensor1d(posRows, 'int32'), tf.scalar(K, 'int32')),
          posLabels,
        ) as tf.Tensor1D;
        const picked = tf.gather(tf.reshape(deltas, [total * K, 4]), flatIndex) as tf.Tensor2D;
        regLoss = this.regLoss(picked, posTargets);
      }
      return {
        loss_cls: tf.div(clsLoss, Math.max(total, 1)) as tf.Scalar,
        loss_bbox: tf.div(regLoss, Math.max(total, 1)) as tf.Scalar,
      };
    });
  }

  /**
   * What `loss` reads back, with awaited reads: each image's assignment and sampled RoIs (the
   * sampler's `sampleAsync`), and the sampled RoIs on the host, so RoIAlign needs no readback.
   * `loss(features, proposals, targets, prepared)` then reads nothing back (webgpu's gradient
   * closure). Free with `disposePreparedRoiLoss`.
   */
  async prepareLoss(
    proposals: readonly tf.Tensor2D[],
    targets: HeadTargets,
  ): Promise<PreparedRoiLoss> {
    const { sampler } = this;
    if (!sampler.sampleSteps) {
      throw new Error(
        "RoiHead.prepareLoss: the head's sampler has no sampleSteps, which a backend without synchronous readback needs",
      );
    }
    const samplings: SamplingResult[] = [];
    try {
      for (const [image, imageProposals] of proposals.entries()) {
        const assignment = this.assign(imageProposals, targets, image);
        try {
          samplings.push(
            await readAsync(
              sampler.sampleSteps(assignment, imageProposals, targets.gtBoxes[image]!),
            ),
          );
        } finally {
          disposeAssignResult(assignment);
        }
      }
      const sampled = tf.tidy(
        () => this.collect(samplings, targets) as unknown as tf.TensorContainer,
      ) as unknown as SampledRois;
      const hostRois = sampled.rois ? ((await sampled.rois.data()) as Float32Array) : null;
      return { sampled, hostRois };
    } finally {
      for (const sampling of samplings) disposeSamplingResult(sampling);
    }
  }

  private assign(proposals: tf.Tensor2D, targets: HeadTargets, image: number) {
    const gtBoxes = targets.gtBoxes[image]!;
    const ignore = targets.gtIgnoreBoxes?.[image];
    return tf.tidy(
      () =>
        ignoreCoveredWithoutGts(
          this.assigner.assign(proposals, gtBoxes, {
            gtLabels: tf.cast(targets.gtLabels[image]!, 'int32') as tf.Tensor1D,
            ...(ignore && ignore.shape[0] > 0 ? { gtIgnoreBoxes: ignore } : {}),
          }),
          this.assigner,
          proposals,
          gtBoxes.shape[0],
          ignore,
        ) as unknown as tf.TensorContainer,
    ) as unknown as AssignResult;
  }

  /** The sampled RoIs of the batch, their labels and the positives' targets (no readback). */
  private collect(samplings: readonly SamplingResult[], targets: HeadTargets): SampledRois {
    const K = this.numClasses;
    const rois: tf.Tensor2D[] = [];
    const labels: tf.Tensor1D[] = [];
    const posTargets: tf.Tensor2D[] = [];
    const posRows: number[] = [];
    const posLabels: tf.Tensor1D[] = [];
    const batchIndices: number[] = [];
    let offset = 0;
    samplings.forEach((sampling, image) => {
      const gtBoxes = targets.gtBoxes[image]!;
      const gtLabels = tf.cast(targets.gtLabels[image]!, 'int32') as tf.Tensor1D;
      const { posIndices, negIndices, posGtIndices, candidates } = sampling;
      const positives = posIndices.shape[0];
      const negatives = negIndices.shape[0];
      const count = positives + negatives;
      if (count > 0) {
        rois.push(tf.gather(candidates, tf.concat([posIndices, negIndices])) as tf.Tensor2D);
        for (let i = 0; i < count; i++) batchIndices.push(image);
        const background = tf.fill([negatives], K, 'int32') as tf.Tensor1D;
        if (positives > 0) {
          const classes = tf.gather(gtLabels, posGtIndices) as tf.Tensor1D;
          labels.push(tf.concat([classes, background]) as tf.Tensor1D);
          posLabels.push(classes);
          posTargets.push(
            this.coder.encode(
              tf.gather(candidates, posIndices),
              tf.gather(gtBoxes, posGtIndices),
            ) as tf.Tensor2D,
          );
          for (let i = 0; i < positives; i++) posRows.push(offset + i);
        } else {
          labels.push(background);
        }
      }
      offset += count;
    });
    return {
      rois: rois.length === 0 ? null : (tf.concat(rois) as tf.Tensor2D),
      labels: labels.length === 0 ? null : (tf.concat(labels) as tf.Tensor1D),
      posLabels: posLabels.length === 0 ? null : (tf.concat(posLabels) as tf.Tensor1D),
      posTargets: posTargets.length === 0 ? null : (tf.concat(posTargets) as tf.Tensor2D),
      posRows,
      batchIndices,
    };
  }

  /** Detections per image: softmax scores, class-specific boxes clipped to the image, multiclass NMS. */
  predict(
    features: readonly tf.Tensor4D[],
    proposals: readonly Float32Array[],
    imageShapes: readonly ImageShape[],
    config: DetectionTestConfig = {},
  ): Detections[] {
    return readSync(this.predictSteps(features, proposals, imageShapes, config, false));
  }

  /** `predict` with awaited reads (webgpu, which has no synchronous readback). */
  predictAsync(
    features: readonly tf.Tensor4D[],
    proposals: readonly Float32Array[],
    imageShapes: readonly ImageShape[],
    config: DetectionTestConfig = {},
  ): Promise<Detections[]> {
    return readAsync(this.predictSteps(features, proposals, imageShapes, config, true));
  }

  private *predictSteps(
    features: readonly tf.Tensor4D[],
    proposals: readonly Float32Array[],
    imageShapes: readonly ImageShape[],
    config: DetectionTestConfig,
    /** RoIAlign on host rois (no readback: webgpu) rather than a rois tensor. */
    hostRois: boolean,
  ): Reads<Detections[]> {
    checkImageShapes(imageShapes, 'RoiHead.predict', proposals.length);
    const options = { ...detectionTestDefaults, ...config };
    const K = this.numClasses;
    const results: Detections[] = [];
    for (const [image, boxes] of proposals.entries()) {
      const count = boxes.length / 4;
      if (count === 0) {
        results.push({
          boxes: new Float32Array(0),
          scores: new Float32Array(0),
          labels: new Int32Array(0),
        });
        continue;
      }
      const [decoded, scores] = tf.tidy(() => {
        const rois = tf.tensor2d(boxes, [count, 4]);
        const { cls, deltas } = this.forward(
          features,
          hostRois ? boxes : rois,
          new Array<number>(count).fill(image),
        );
        const probabilities = tf.slice(tf.softmax(cls), [0, 0], [count, K]);
        const perClass = this.coder.decode(
          tf.reshape(rois, [count, 1, 4]),
          tf.reshape(deltas, [count, K, 4]),
          {
            maxShape: imageShapes[image]!,
          },
        );
        return [perClass, probabilities];
      });
      try {
        const decodedValues = (yield decoded) as Float32Array;
        const scoreValues = (yield scores) as Float32Array;
        results.push(multiclassNms(decodedValues, scoreValues, K, options));
      } finally {
        tf.dispose([decoded, scores]);
      }
    }
    return results;
  }
}
