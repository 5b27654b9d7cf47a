import { ResNetFpn } from '@det/backbone';
import { ParameterStore } from '@det/core';
import {
  type AnchorFunctionFactory,
  type AnchorHead,
  createRetinaHead,
  type Detections,
  disposeLevelOutputs,
  focalClassificationLoss,
  type LossRecord,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import type { RetinaNetConfig } from './config';
import type { Detector, DetectorBatch } from './detector';

export interface RetinaNetOptions {
  config: RetinaNetConfig;
  /** Replaces the sliding-window anchor function (MetaAnchor, Guided Anchoring). */
  anchorFunction?: AnchorFunctionFactory;
}

/** RetinaNet (Lin et al. 2017): ResNet + FPN P3–P7 and a focal-loss dense head. */
export class RetinaNet implements Detector {
  readonly config: RetinaNetConfig;
  readonly parameters: ParameterStore;
  readonly backbone: ResNetFpn<'p3-p7'>;
  readonly head: AnchorHead;

  constructor(options: RetinaNetOptions) {
    const { config } = options;
    this.config = config;
    this.parameters = new ParameterStore();
    const { fpnChannels, ...resnet } = config.backbone;
    this.backbone = new ResNetFpn({
      resnet,
      fpn: { outChannels: fpnChannels, levels: 'p3-p7' },
      store: this.parameters.scope('backbone'),
    });
    this.head = createRetinaHead({
      store: this.parameters.scope('bbox_head'),
      numClasses: config.numClasses,
      inChannels: fpnChannels,
      featChannels: config.head.featChannels,
      stackedConvs: config.head.stackedConvs,
      anchors: config.head.anchors,
      clsLoss: focalClassificationLoss({
        alpha: config.head.focalAlpha,
        gamma: config.head.focalGamma,
      }),
      ...(options.anchorFunction ? { anchorFunction: options.anchorFunction } : {}),
    });
  }

  private features(images: tf.Tensor4D, training: boolean): tf.Tensor4D[] {
    const levels = this.backbone.apply(images, { training });
    return [levels.p3, levels.p4, levels.p5, levels.p6, levels.p7];
  }

  losses(batch: DetectorBatch): LossRecord {
    return tf.tidy(() => {
      const outputs = this.head.forward(this.features(batch.images, true), { training: true });
      return this.head.loss(
        outputs,
        {
          gtBoxes: batch.gtBoxes,
          gtLabels: batch.gtLabels,
          ...(batch.gtIgnoreBoxes ? { gtIgnoreBoxes: batch.gtIgnoreBoxes } : {}),
        },
        batch.imageShapes,
      );
    });
  }

  predict(images: tf.Tensor4D, imageShapes: readonly (readonly [number, number])[]): Detections[] {
    const outputs = tf.tidy(
      () => this.head.forward(this.features(images, false)) as unknown as tf.TensorContainer,
    );
    try {
      return this.head.predict(
        outputs as unknown as ReturnType<AnchorHead['forward']>,
        imageShapes,
        this.config.test,
      );
    } finally {
      disposeLevelOutputs(outputs as unknown as ReturnType<AnchorHead['forward']>);
    }
  }

  dispose(): void {
    this.head.dispose();
    this.parameters.dispose();
  }
}
