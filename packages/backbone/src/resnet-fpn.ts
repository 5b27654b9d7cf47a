import { ParameterStore } from '@det/core';
import type * as tf from '@tensorflow/tfjs-core';
import { Fpn, type FpnLevels, type FpnOptions, type FpnOutputs } from './fpn';
import { ResNet, type ResNetApplyOptions, type ResNetOptions } from './resnet';

export interface ResNetFpnOptions<L extends FpnLevels = 'p3-p7'> {
  resnet: Omit<ResNetOptions, 'store'>;
  fpn: Omit<FpnOptions<L>, 'inChannels' | 'store'>;
  /** Where the parameters live; `body.*` and `fpn.*` as torchvision's BackboneWithFPN. */
  store?: ParameterStore;
}

/**
 * A ResNet body with an FPN neck, named as torchvision's BackboneWithFPN (`body.layer1...`,
 * `fpn.inner_blocks...`): torchvision ResNet checkpoints load into `.body`.
 */
export class ResNetFpn<L extends FpnLevels = 'p3-p7'> {
  readonly parameters: ParameterStore;
  readonly body: ResNet;
  readonly fpn: Fpn<L>;

  constructor(options: ResNetFpnOptions<L>) {
    this.parameters = options.store ?? new ParameterStore();
    this.body = new ResNet({ ...options.resnet, store: this.parameters.scope('body') });
    const shapes = this.body.outputShapes;
    const levels = options.fpn.levels ?? 'p3-p7';
    const inputs =
      levels === 'p2-p6'
        ? [shapes.c2, shapes.c3, shapes.c4, shapes.c5]
        : [shapes.c3, shapes.c4, shapes.c5];
    this.fpn = new Fpn<L>({
      ...options.fpn,
      inChannels: inputs.map((shape) => shape.channels),
      store: this.parameters.scope('fpn'),
    });
  }

  get outputShapes(): Fpn<L>['outputShapes'] {
    return this.fpn.outputShapes;
  }

  apply(images: tf.Tensor4D, options: ResNetApplyOptions = {}): FpnOutputs<L> {
    const features = this.body.apply(images, options);
    try {
      return this.fpn.apply(features);
    } finally {
      for (const feature of Object.values(features)) feature.dispose();
    }
  }

  dispose(): void {
    this.parameters.dispose();
  }
}

export function createResNetFpn<L extends FpnLevels = 'p3-p7'>(
  options: ResNetFpnOptions<L>,
): ResNetFpn<L> {
  return new ResNetFpn(options);
}

/**
 * A small backbone that trains from scratch at a useful speed on 2 CPU cores (tests, the
 * embedded demo): ResNet-18 at quarter width (16–128 channels; 0.94 M parameters with the FPN) and a
 * 64-channel RetinaNet FPN. Nothing is frozen; BN statistics stay at identity with
 * learnable γ/β, and zero-initialised residual γ makes every block start as an identity
 * (Goyal et al. 2017), which is what lets it train without batch statistics.
 */
export const tinyResNetFpnPreset: ResNetFpnOptions<'p3-p7'> = {
  resnet: {
    depth: 18,
    widthMultiplier: 0.25,
    frozenStages: -1,
    trainableNormAffine: true,
    zeroInitResidual: true,
  },
  fpn: { outChannels: 64, levels: 'p3-p7' },
};
