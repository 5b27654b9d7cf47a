import { ResNetFpn } from '@det/backbone';
import { MaxIoUAssigner, ParameterStore, RandomSampler } from '@det/core';
import {
  type AnchorFunctionFactory,
  type AnchorHead,
  type AnchorLevelOutput,
  createRpnHead,
  type Detections,
  disposeLevelOutputs,
  type LossRecord,
  type Proposals,
  RoiHead,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { FasterRcnnConfig, FastRcnnConfig, RpnConfig } from './config';
import type { Detector, DetectorBatch } from './detector';

type ImageShapes = readonly (readonly [number, number])[];

/** ResNet + FPN P2–P6, the two-stage detectors' backbone (P2–P5 pooled by the RoI head). */
function twoStageBackbone(
  config: RpnConfig | FasterRcnnConfig | FastRcnnConfig,
  store: ParameterStore,
): ResNetFpn<'p2-p6'> {
  const { fpnChannels, ...resnet } = config.backbone;
  return new ResNetFpn<'p2-p6'>({
    resnet,
    fpn: { outChannels: fpnChannels, levels: 'p2-p6' },
    store: store.scope('backbone'),
  });
}

function pyramid(
  backbone: ResNetFpn<'p2-p6'>,
  images: tf.Tensor4D,
  training: boolean,
): tf.Tensor4D[] {
  const levels = backbone.apply(images, { training });
  return [levels.p2, levels.p3, levels.p4, levels.p5, levels.p6];
}

function rpnHead(
  config: RpnConfig | FasterRcnnConfig,
  store: ParameterStore,
  anchorFunction?: AnchorFunctionFactory,
): AnchorHead {
  return createRpnHead({
    store: store.scope('rpn_head'),
    inChannels: config.backbone.fpnChannels,
    featChannels: config.rpn.featChannels,
    anchors: config.rpn.anchors,
    sampler: new RandomSampler({
      num: config.rpn.sampleSize,
      posFraction: config.rpn.positiveFraction,
      seed: config.train.seed,
    }),
    ...(anchorFunction ? { anchorFunction } : {}),
  });
}

function roiHead(config: FasterRcnnConfig | FastRcnnConfig, store: ParameterStore): RoiHead {
  return new RoiHead({
    store: store.scope('roi_head'),
    inChannels: config.backbone.fpnChannels,
    numClasses: config.numClasses,
    featmapStrides: [4, 8, 16, 32],
    fcChannels: config.roi.fcChannels,
    roiSize: config.roi.roiSize,
    samplingRatio: config.roi.samplingRatio,
    assigner: new MaxIoUAssigner({
      posIouThreshold: 0.5,
      negIouThreshold: 0.5,
      minPosIou: 0.5,
      matchLowQuality: false,
    }),
    sampler: new RandomSampler({
      num: config.roi.sampleSize,
      posFraction: config.roi.positiveFraction,
      addGtAsProposals: true,
      seed: config.train.seed + 1,
    }),
  });
}

function proposalsAsDetections(proposals: Proposals[]): Detections[] {
  return proposals.map((p) => ({
    boxes: p.boxes,
    scores: p.scores,
    labels: new Int32Array(p.scores.length),
  }));
}

function targetsOf(batch: DetectorBatch) {
  return {
    gtBoxes: batch.gtBoxes,
    gtLabels: batch.gtLabels,
    ...(batch.gtIgnoreBoxes ? { gtIgnoreBoxes: batch.gtIgnoreBoxes } : {}),
  };
}

/** RPN alone as a proposal generator (Ren et al. 2015 with FPN); `predict` returns proposals (label 0). */
export class Rpn implements Detector {
  readonly config: RpnConfig;
  readonly parameters = new ParameterStore();
  readonly backbone: ResNetFpn<'p2-p6'>;
  readonly rpn: AnchorHead;

  constructor(options: { config: RpnConfig; anchorFunction?: AnchorFunctionFactory }) {
    this.config = options.config;
    this.backbone = twoStageBackbone(options.config, this.parameters);
    this.rpn = rpnHead(options.config, this.parameters, options.anchorFunction);
  }

  losses(batch: DetectorBatch): LossRecord {
    return tf.tidy(() => {
      const outputs = this.rpn.forward(pyramid(this.backbone, batch.images, true), {
        training: true,
      });
      return this.rpn.loss(outputs, targetsOf(batch), batch.imageShapes);
    });
  }

  predict(images: tf.Tensor4D, imageShapes: ImageShapes): Detections[] {
    const outputs = tf.tidy(
      () =>
        this.rpn.forward(pyramid(this.backbone, images, false)) as unknown as tf.TensorContainer,
    ) as unknown as AnchorLevelOutput[];
    try {
      return proposalsAsDetections(
        this.rpn.proposals(outputs, imageShapes, this.config.rpn.testProposals),
      );
    } finally {
      disposeLevelOutputs(outputs);
    }
  }

  dispose(): void {
    this.rpn.dispose();
    this.parameters.dispose();
  }
}

/**
 * Faster R-CNN with FPN (Ren et al. 2015; Lin et al. 2017), trained end to end
 * (approximate joint training): RPN losses plus RoI-head losses on the RPN's detached
 * proposals, sampled with the ground truth added.
 */
export class FasterRcnn implements Detector {
  readonly config: FasterRcnnConfig;
  readonly parameters = new ParameterStore();
  readonly backbone: ResNetFpn<'p2-p6'>;
  readonly rpn: AnchorHead;
  readonly roi: RoiHead;

  constructor(options: { config: FasterRcnnConfig; anchorFunction?: AnchorFunctionFactory }) {
    this.config = options.config;
    this.backbone = twoStageBackbone(options.config, this.parameters);
    this.rpn = rpnHead(options.config, this.parameters, options.anchorFunction);
    this.roi = roiHead(options.config, this.parameters);
  }

  losses(batch: DetectorBatch): LossRecord {
    return tf.tidy(() => {
      const features = pyramid(this.backbone, batch.images, true);
      const outputs = this.rpn.forward(features, { training: true });
      const rpnLosses = this.rpn.loss(outputs, targetsOf(batch), batch.imageShapes);
      // Proposals are read back (host NMS) and re-created: no gradient flows through them.
      const proposals = this.rpn
        .proposals(outputs, batch.imageShapes, this.config.rpn.trainProposals)
        .map((p) => tf.tensor2d(p.boxes, [p.boxes.length / 4, 4]));
      const roiLosses = this.roi.loss(features.slice(0, 4), proposals, targetsOf(batch));
      return { ...rpnLosses, ...roiLosses };
    });
  }

  predict(images: tf.Tensor4D, imageShapes: ImageShapes): Detections[] {
    const features = tf.tidy(() => pyramid(this.backbone, images, false));
    try {
      const outputs = tf.tidy(
        () => this.rpn.forward(features) as unknown as tf.TensorContainer,
      ) as unknown as AnchorLevelOutput[];
      let proposals: Proposals[];
      try {
        proposals = this.rpn.proposals(outputs, imageShapes, this.config.rpn.testProposals);
      } finally {
        disposeLevelOutputs(outputs);
      }
      return this.roi.predict(
        features.slice(0, 4),
        proposals.map((p) => p.boxes),
        imageShapes,
        this.config.test,
      );
    } finally {
      tf.dispose(features);
    }
  }

  dispose(): void {
    this.rpn.dispose();
    this.parameters.dispose();
  }
}

/** Fast R-CNN with FPN on precomputed proposals (`batch.proposals`, input pixels). */
export class FastRcnn implements Detector {
  readonly config: FastRcnnConfig;
  readonly parameters = new ParameterStore();
  readonly backbone: ResNetFpn<'p2-p6'>;
  readonly roi: RoiHead;

  constructor(options: { config: FastRcnnConfig }) {
    this.config = options.config;
    this.backbone = twoStageBackbone(options.config, this.parameters);
    this.roi = roiHead(options.config, this.parameters);
  }

  losses(batch: DetectorBatch): LossRecord {
    const given = batch.proposals;
    if (!given || given.length !== batch.gtBoxes.length) {
      throw new Error(
        `FastRcnn.losses: batch.proposals must hold one array per image, got ${given?.length ?? 'none'}`,
      );
    }
    return tf.tidy(() => {
      const features = pyramid(this.backbone, batch.images, true);
      const proposals = given.map((boxes) => tf.tensor2d(boxes, [boxes.length / 4, 4]));
      return this.roi.loss(features.slice(0, 4), proposals, targetsOf(batch));
    });
  }

  predict(
    images: tf.Tensor4D,
    imageShapes: ImageShapes,
    options: { proposals?: readonly Float32Array[] } = {},
  ): Detections[] {
    if (!options.proposals)
      throw new Error('FastRcnn.predict: options.proposals (one array per image) is required');
    const features = tf.tidy(() => pyramid(this.backbone, images, false));
    try {
      return this.roi.predict(
        features.slice(0, 4),
        options.proposals,
        imageShapes,
        this.config.test,
      );
    } finally {
      tf.dispose(features);
    }
  }

  dispose(): void {
    this.parameters.dispose();
  }
}
