import {
  ApproxMaxIoUAssigner,
  type GuidedAnchorFunctionOptions,
  gaRetinaNetAnchorOptions,
  gaRpnAnchorOptions,
  guidedAnchorFunction,
} from '@det/anchors-guided';
import { ResNetFpn } from '@det/backbone';
import { DeltaXYWHBoxCoder, MaxIoUAssigner, ParameterStore, RandomSampler } from '@det/core';
import {
  type AnchorHead,
  type AnchorLevelOutput,
  createRetinaHead,
  createRpnHead,
  type Detections,
  disposeLevelOutputs,
  focalClassificationLoss,
  type LossRecord,
  type Proposals,
  RoiHead,
  smoothL1RegressionLoss,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { GaFasterRcnnConfig, GaRetinaNetConfig, GaRpnConfig } from './config';
import type { Detector, DetectorBatch } from './detector';
import type { GuidedAnchoringConfig } from './guided-anchoring-config';

type ImageShapes = readonly (readonly [number, number])[];

/** A detector whose dense head ends in a Guided Anchoring anchor function. */
export interface GuidedAnchoringDetector extends Detector {
  /** The GA head (GA-RPN's `rpn_head`, GA-RetinaNet's `bbox_head`). */
  readonly guidedHead: AnchorHead;
  /** Strides of the GA head's levels, finest first. */
  readonly strides: readonly number[];
  /** The FPN levels the GA head reads, finest first. */
  pyramid(images: tf.Tensor4D, training: boolean): tf.Tensor4D[];
}

export function isGuidedAnchoringDetector(detector: Detector): detector is GuidedAnchoringDetector {
  return 'guidedHead' in detector && 'pyramid' in detector;
}

const twoStageStrides = [4, 8, 16, 32, 64] as const;
const retinaStrides = [8, 16, 32, 64, 128] as const;

/** The `@det/anchors-guided` options a `guided` config block stands for. */
export function guidedAnchorOptions(
  guided: GuidedAnchoringConfig,
  variant: 'rpn' | 'retinanet',
  seed: number,
): GuidedAnchorFunctionOptions & { sharedTower: boolean } {
  const base = variant === 'rpn' ? gaRpnAnchorOptions : gaRetinaNetAnchorOptions;
  return base({
    strides: variant === 'rpn' ? twoStageStrides : retinaStrides,
    squareScale: guided.squareScale,
    octaveBaseScale: guided.octaveBaseScale,
    scalesPerOctave: guided.scalesPerOctave,
    deltaStd: guided.anchorDeltaStd,
    deformGroups: guided.deformGroups,
    adaptionWeightStd: guided.adaptionWeightStd,
    locationThreshold: guided.locationThreshold,
    sparseInference: guided.sparseInference,
    centerRatio: guided.centerRatio,
    ignoreRatio: guided.ignoreRatio,
    shapeLoss: { normalizer: guided.shapeLossNormalizer },
    shapeTargets: {
      assigner: new ApproxMaxIoUAssigner({ ...guided.shapeAssigner, ignoreIofThreshold: -1 }),
      sampler: new RandomSampler({
        num: guided.shapeSampleSize,
        posFraction: guided.shapePositiveFraction,
        negPosUpperBound: -1,
        addGtAsProposals: false,
        seed,
      }),
      ratios: guided.approxRatios,
    },
  });
}

/** The guided anchors' box coder (`bbox_coder`; GA-RPN stds 0.07, 0.07, 0.11, 0.11). */
function guidedBoxCoder(guided: GuidedAnchoringConfig): DeltaXYWHBoxCoder {
  return new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [...guided.targetStds] });
}

function targetsOf(batch: DetectorBatch) {
  return {
    gtBoxes: batch.gtBoxes,
    gtLabels: batch.gtLabels,
    ...(batch.gtIgnoreBoxes ? { gtIgnoreBoxes: batch.gtIgnoreBoxes } : {}),
  };
}

/** The head's inference outputs; `features` runs inside the tidy so its levels are freed. */
function forwardForInference(head: AnchorHead, features: () => tf.Tensor4D[]): AnchorLevelOutput[] {
  return tf.tidy(
    () => head.forward(features()) as unknown as tf.TensorContainer,
  ) as unknown as AnchorLevelOutput[];
}

/**
 * GA-RetinaNet (Wang et al. 2019 §4): RetinaNet's backbone and towers; the anchor function
 * predicts one anchor per location (σ = 4) and adapts each tower's features with its own
 * deformable conv; focal loss, smooth L1 (β 0.04), assigner 0.5 / 0.5 / 0.
 */
export class GaRetinaNet implements GuidedAnchoringDetector {
  readonly config: GaRetinaNetConfig;
  readonly parameters = new ParameterStore();
  readonly backbone: ResNetFpn<'p3-p7'>;
  readonly guidedHead: AnchorHead;
  readonly strides = retinaStrides;

  constructor(options: { config: GaRetinaNetConfig }) {
    const { config } = options;
    this.config = config;
    const { fpnChannels, ...resnet } = config.backbone;
    this.backbone = new ResNetFpn({
      resnet,
      fpn: { outChannels: fpnChannels, levels: 'p3-p7' },
      store: this.parameters.scope('backbone'),
    });
    this.guidedHead = createRetinaHead({
      store: this.parameters.scope('bbox_head'),
      numClasses: config.numClasses,
      inChannels: fpnChannels,
      featChannels: config.head.featChannels,
      stackedConvs: config.head.stackedConvs,
      anchorFunction: guidedAnchorFunction(
        guidedAnchorOptions(config.guided, 'retinanet', config.train.seed),
      ),
      // mmdetection GA-RetinaNet `train_cfg.assigner`: neg_iou_thr 0.5, min_pos_iou 0.
      assigner: new MaxIoUAssigner({
        posIouThreshold: 0.5,
        negIouThreshold: 0.5,
        minPosIou: 0,
        ignoreIofThreshold: -1,
      }),
      coder: guidedBoxCoder(config.guided),
      clsLoss: focalClassificationLoss({
        alpha: config.head.focalAlpha,
        gamma: config.head.focalGamma,
      }),
      regLoss: smoothL1RegressionLoss({ beta: config.guided.regressionBeta }),
    });
  }

  pyramid(images: tf.Tensor4D, training: boolean): tf.Tensor4D[] {
    const levels = this.backbone.apply(images, { training });
    return [levels.p3, levels.p4, levels.p5, levels.p6, levels.p7];
  }

  losses(batch: DetectorBatch): LossRecord {
    return tf.tidy(() => {
      const outputs = this.guidedHead.forward(this.pyramid(batch.images, true), {
        training: true,
      });
      return this.guidedHead.loss(outputs, targetsOf(batch), batch.imageShapes);
    });
  }

  predict(images: tf.Tensor4D, imageShapes: ImageShapes): Detections[] {
    const outputs = forwardForInference(this.guidedHead, () => this.pyramid(images, false));
    try {
      return this.guidedHead.predict(outputs, imageShapes, this.config.test);
    } finally {
      disposeLevelOutputs(outputs);
    }
  }

  dispose(): void {
    this.guidedHead.dispose();
    this.parameters.dispose();
  }
}

function twoStageBackbone(
  config: GaRpnConfig | GaFasterRcnnConfig,
  store: ParameterStore,
): ResNetFpn<'p2-p6'> {
  const { fpnChannels, ...resnet } = config.backbone;
  return new ResNetFpn<'p2-p6'>({
    resnet,
    fpn: { outChannels: fpnChannels, levels: 'p2-p6' },
    store: store.scope('backbone'),
  });
}

/**
 * GA-RPN's head: the RPN's 3×3 `rpn_conv` (+ ReLU) then Guided Anchoring with ONE shared
 * feature adaption, 1×1 `rpn_cls` / `rpn_reg`, sigmoid BCE and smooth L1 (β 1) on the guided
 * anchors, RPN assigner 0.7 / 0.3 / 0.3 and 256 samples.
 */
function gaRpnHead(config: GaRpnConfig | GaFasterRcnnConfig, store: ParameterStore): AnchorHead {
  return createRpnHead({
    store: store.scope('rpn_head'),
    inChannels: config.backbone.fpnChannels,
    featChannels: config.rpn.featChannels,
    anchorFunction: guidedAnchorFunction(
      guidedAnchorOptions(config.guided, 'rpn', config.train.seed),
    ),
    sampler: new RandomSampler({
      num: config.rpn.sampleSize,
      posFraction: config.rpn.positiveFraction,
      negPosUpperBound: -1,
      addGtAsProposals: false,
      seed: config.train.seed,
    }),
    coder: guidedBoxCoder(config.guided),
    regLoss: smoothL1RegressionLoss({ beta: config.guided.regressionBeta }),
  });
}

function proposalsAsDetections(proposals: Proposals[]): Detections[] {
  return proposals.map((p) => ({
    boxes: p.boxes,
    scores: p.scores,
    labels: new Int32Array(p.scores.length),
  }));
}

/** GA-RPN as a proposal generator; `predict` returns proposals (label 0, objectness scores). */
export class GaRpn implements GuidedAnchoringDetector {
  readonly config: GaRpnConfig;
  readonly parameters = new ParameterStore();
  readonly backbone: ResNetFpn<'p2-p6'>;
  readonly guidedHead: AnchorHead;
  readonly strides = twoStageStrides;

  constructor(options: { config: GaRpnConfig }) {
    this.config = options.config;
    this.backbone = twoStageBackbone(options.config, this.parameters);
    this.guidedHead = gaRpnHead(options.config, this.parameters);
  }

  pyramid(images: tf.Tensor4D, training: boolean): tf.Tensor4D[] {
    const levels = this.backbone.apply(images, { training });
    return [levels.p2, levels.p3, levels.p4, levels.p5, levels.p6];
  }

  losses(batch: DetectorBatch): LossRecord {
    return tf.tidy(() => {
      const outputs = this.guidedHead.forward(this.pyramid(batch.images, true), {
        training: true,
      });
      return this.guidedHead.loss(outputs, targetsOf(batch), batch.imageShapes);
    });
  }

  predict(images: tf.Tensor4D, imageShapes: ImageShapes): Detections[] {
    const outputs = forwardForInference(this.guidedHead, () => this.pyramid(images, false));
    try {
      return proposalsAsDetections(
        this.guidedHead.proposals(outputs, imageShapes, this.config.rpn.testProposals),
      );
    } finally {
      disposeLevelOutputs(outputs);
    }
  }

  dispose(): void {
    this.guidedHead.dispose();
    this.parameters.dispose();
  }
}

/**
 * GA-Faster R-CNN: GA-RPN + the RoI head (RoIAlign on P2–P5, 2fc), trained end to end on the
 * GA-RPN's detached proposals (300 per image), RoI IoU 0.6 and deltas stds 0.05/0.05/0.1/0.1.
 */
export class GaFasterRcnn implements GuidedAnchoringDetector {
  readonly config: GaFasterRcnnConfig;
  readonly parameters = new ParameterStore();
  readonly backbone: ResNetFpn<'p2-p6'>;
  readonly guidedHead: AnchorHead;
  readonly roi: RoiHead;
  readonly strides = twoStageStrides;

  constructor(options: { config: GaFasterRcnnConfig }) {
    const { config } = options;
    this.config = config;
    this.backbone = twoStageBackbone(config, this.parameters);
    this.guidedHead = gaRpnHead(config, this.parameters);
    this.roi = new RoiHead({
      store: this.parameters.scope('roi_head'),
      inChannels: config.backbone.fpnChannels,
      numClasses: config.numClasses,
      featmapStrides: [4, 8, 16, 32],
      fcChannels: config.roi.fcChannels,
      roiSize: config.roi.roiSize,
      samplingRatio: config.roi.samplingRatio,
      assigner: new MaxIoUAssigner({
        posIouThreshold: config.roiIouThreshold,
        negIouThreshold: config.roiIouThreshold,
        minPosIou: config.roiIouThreshold,
        matchLowQuality: false,
      }),
      sampler: new RandomSampler({
        num: config.roi.sampleSize,
        posFraction: config.roi.positiveFraction,
        addGtAsProposals: true,
        seed: config.train.seed + 1,
      }),
      coder: new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [...config.roi.targetStds] }),
    });
  }

  pyramid(images: tf.Tensor4D, training: boolean): tf.Tensor4D[] {
    const levels = this.backbone.apply(images, { training });
    return [levels.p2, levels.p3, levels.p4, levels.p5, levels.p6];
  }

  losses(batch: DetectorBatch): LossRecord {
    return tf.tidy(() => {
      const features = this.pyramid(batch.images, true);
      const outputs = this.guidedHead.forward(features, { training: true });
      const rpnLosses = this.guidedHead.loss(outputs, targetsOf(batch), batch.imageShapes);
      // Proposals are read back (host NMS) and re-created: no gradient flows through them.
      const proposals = this.guidedHead
        .proposals(outputs, batch.imageShapes, this.config.rpn.trainProposals)
        .map((p) => tf.tensor2d(p.boxes, [p.boxes.length / 4, 4]));
      const roiLosses = this.roi.loss(features.slice(0, 4), proposals, targetsOf(batch));
      return { ...rpnLosses, ...roiLosses };
    });
  }

  predict(images: tf.Tensor4D, imageShapes: ImageShapes): Detections[] {
    const features = tf.tidy(() => this.pyramid(images, false));
    try {
      const outputs = forwardForInference(this.guidedHead, () => features);
      let proposals: Proposals[];
      try {
        proposals = this.guidedHead.proposals(outputs, imageShapes, this.config.rpn.testProposals);
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
    this.guidedHead.dispose();
    this.parameters.dispose();
  }
}
