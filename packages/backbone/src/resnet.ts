import { Conv2d, FrozenBatchNorm2d, kaimingNormal, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, type NormMode } from './batch-norm';
import type { FeatureShape } from './feature-shape';
import { GroupNorm2d } from './group-norm';

export type ResNetDepth = 18 | 34 | 50 | 101;

/**
 * Where a bottleneck's stride sits: 'pytorch' (torchvision, ResNet v1.5) on the 3×3 conv,
 * 'caffe' (the original MSRA models, mmdetection's style='caffe') on the first 1×1 conv.
 * Basic blocks (ResNet-18/34) are the same in both styles.
 */
export type ResNetStyle = 'pytorch' | 'caffe';

export type ResNetFeatureName = 'c2' | 'c3' | 'c4' | 'c5';

export interface ResNetApplyOptions {
  /** Training mode (batch statistics for `norm: 'batch'`). Default false. */
  training?: boolean;
  /** `norm: 'batch'` in training: fold the batch into the running statistics. Default true. */
  updateStatistics?: boolean;
}
export type ResNetOutputs = Record<ResNetFeatureName, tf.Tensor4D>;
export type ResNetShapeSpec = Record<ResNetFeatureName, FeatureShape>;

export interface ResNetOptions {
  depth: ResNetDepth;
  /** Default 'pytorch' (torchvision's layout). */
  style?: ResNetStyle;
  /**
   * Stages whose parameters do not train, as mmdetection's `frozen_stages`: −1 none, 0 the
   * stem (conv1, bn1), k the stem and layer1…layerk. Default 1, as detectors fine-tune.
   */
  frozenStages?: number;
  /** Scales every stage width (64·w, 128·w, ...); 64·w must be an integer. Default 1. */
  widthMultiplier?: number;
  /**
   * Lets BN's γ/β train in unfrozen stages while the statistics stay fixed (mmdetection's
   * `norm_eval=True, requires_grad=True`). Default false: torchvision's FrozenBatchNorm2d.
   */
  trainableNormAffine?: boolean;
  /** torchvision's `zero_init_residual`: γ = 0 in each block's last BN, so blocks start as identities. */
  zeroInitResidual?: boolean;
  /**
   * 'frozen-bn' (default): torchvision's FrozenBatchNorm2d. 'batch': BatchNorm with batch
   * statistics while training and running ones (`running_mean`/`running_var`, momentum
   * `normMomentum`) at test, for training from scratch; stages frozen by `frozenStages` run
   * in eval mode, as mmdetection's `_freeze_stages`. 'group': GroupNorm (Wu & He 2018) with
   * `normGroups` groups (capped at the channel count), also for training from scratch;
   * checkpoints then hold no `running_mean`/`running_var`.
   */
  norm?: ResNetNorm;
  /** `norm: 'batch'`'s momentum (torch's). Default 0.1. */
  normMomentum?: number;
  /** Groups of `norm: 'group'`. Default 32 (Wu & He 2018). */
  normGroups?: number;
  /** Where the parameters live (e.g. `root.scope('backbone.body')`); a new store by default. */
  store?: ParameterStore;
}

interface Architecture {
  block: 'basic' | 'bottleneck';
  blocks: [number, number, number, number];
}

/** torchvision's resnet18 ... resnet101. */
const ARCHITECTURES: Record<ResNetDepth, Architecture> = {
  18: { block: 'basic', blocks: [2, 2, 2, 2] },
  34: { block: 'basic', blocks: [3, 4, 6, 3] },
  50: { block: 'bottleneck', blocks: [3, 4, 6, 3] },
  101: { block: 'bottleneck', blocks: [3, 4, 23, 3] },
};

const FEATURE_NAMES: readonly ResNetFeatureName[] = ['c2', 'c3', 'c4', 'c5'];

export type ResNetNorm = 'frozen-bn' | 'batch' | 'group';
const NORMS: readonly ResNetNorm[] = ['frozen-bn', 'batch', 'group'];

interface NormOptions {
  trainableAffine: boolean;
  kind: ResNetNorm;
  groups: number;
  momentum: number;
}

/** What a block needs of its norm layer (γ for `zeroInitResidual`). */
interface NormLayer {
  readonly weight: tf.Variable;
  apply(input: tf.Tensor4D, mode?: NormMode): tf.Tensor4D;
}

/** Conv without bias (BN follows), He-normal fan-out as torchvision initialises ResNet convs. */
function convNoBias(
  store: ParameterStore,
  name: string,
  options: { inChannels: number; outChannels: number; kernelSize: number; stride: number },
): Conv2d {
  return new Conv2d(store.scope(name), {
    ...options,
    padding: (options.kernelSize - 1) / 2,
    bias: false,
    weightInit: kaimingNormal({ mode: 'fanOut' }),
  });
}

function norm(
  store: ParameterStore,
  name: string,
  channels: number,
  options: NormOptions,
): NormLayer {
  if (options.kind === 'group') {
    return new GroupNorm2d(store.scope(name), {
      channels,
      groups: Math.min(options.groups, channels),
    });
  }
  if (options.kind === 'batch') {
    return new BatchNorm2d(store.scope(name), { channels, momentum: options.momentum });
  }
  return new FrozenBatchNorm2d(store.scope(name), {
    channels,
    trainableAffine: options.trainableAffine,
  });
}

/** `downsample.0` (1×1 strided conv) + `downsample.1` (BN), torchvision's projection shortcut. */
class Downsample {
  private readonly conv: Conv2d;
  private readonly bn: NormLayer;

  constructor(
    store: ParameterStore,
    options: { inChannels: number; outChannels: number; stride: number; norm: NormOptions },
  ) {
    const scope = store.scope('downsample');
    this.conv = convNoBias(scope, '0', {
      inChannels: options.inChannels,
      outChannels: options.outChannels,
      kernelSize: 1,
      stride: options.stride,
    });
    this.bn = norm(scope, '1', options.outChannels, options.norm);
  }

  apply(x: tf.Tensor4D, mode: NormMode): tf.Tensor4D {
    return tf.tidy(() => this.bn.apply(this.conv.apply(x), mode));
  }
}

interface BlockOptions {
  inChannels: number;
  planes: number;
  stride: number;
  style: ResNetStyle;
  norm: NormOptions;
  zeroInitResidual: boolean;
}

interface Block {
  apply(x: tf.Tensor4D, mode: NormMode): tf.Tensor4D;
}

function projection(store: ParameterStore, options: BlockOptions, outChannels: number) {
  return options.stride !== 1 || options.inChannels !== outChannels
    ? new Downsample(store, {
        inChannels: options.inChannels,
        outChannels,
        stride: options.stride,
        norm: options.norm,
      })
    : undefined;
}

/** torchvision's BasicBlock: 3×3 (stride) → BN → ReLU → 3×3 → BN, + shortcut, ReLU. */
class BasicBlock implements Block {
  static readonly expansion = 1;
  private readonly conv1: Conv2d;
  private readonly bn1: NormLayer;
  private readonly conv2: Conv2d;
  private readonly bn2: NormLayer;
  private readonly downsample: Downsample | undefined;

  constructor(store: ParameterStore, options: BlockOptions) {
    const { inChannels, planes, stride } = options;
    this.conv1 = convNoBias(store, 'conv1', {
      inChannels,
      outChannels: planes,
      kernelSize: 3,
      stride,
    });
    this.bn1 = norm(store, 'bn1', planes, options.norm);
    this.conv2 = convNoBias(store, 'conv2', {
      inChannels: planes,
      outChannels: planes,
      kernelSize: 3,
      stride: 1,
    });
    this.bn2 = norm(store, 'bn2', planes, options.norm);
    if (options.zeroInitResidual) tf.tidy(() => this.bn2.weight.assign(tf.zeros([planes])));
    this.downsample = projection(store, options, planes);
  }

  apply(x: tf.Tensor4D, mode: NormMode): tf.Tensor4D {
    return tf.tidy(() => {
      const a = tf.relu(this.bn1.apply(this.conv1.apply(x), mode));
      const branch = this.bn2.apply(this.conv2.apply(a), mode);
      const shortcut = this.downsample ? this.downsample.apply(x, mode) : x;
      return tf.relu(tf.add(branch, shortcut) as tf.Tensor4D);
    });
  }
}

/** torchvision's Bottleneck: 1×1 → 3×3 → 1×1 (×4 channels), BN after each, + shortcut. */
class Bottleneck implements Block {
  static readonly expansion = 4;
  private readonly conv1: Conv2d;
  private readonly bn1: NormLayer;
  private readonly conv2: Conv2d;
  private readonly bn2: NormLayer;
  private readonly conv3: Conv2d;
  private readonly bn3: NormLayer;
  private readonly downsample: Downsample | undefined;

  constructor(store: ParameterStore, options: BlockOptions) {
    const { inChannels, planes, stride } = options;
    const outChannels = planes * Bottleneck.expansion;
    // mmdetection's ResNet Bottleneck: caffe puts the stride on conv1, pytorch on conv2.
    const [stride1, stride2] = options.style === 'caffe' ? [stride, 1] : [1, stride];
    this.conv1 = convNoBias(store, 'conv1', {
      inChannels,
      outChannels: planes,
      kernelSize: 1,
      stride: stride1,
    });
    this.bn1 = norm(store, 'bn1', planes, options.norm);
    this.conv2 = convNoBias(store, 'conv2', {
      inChannels: planes,
      outChannels: planes,
      kernelSize: 3,
      stride: stride2,
    });
    this.bn2 = norm(store, 'bn2', planes, options.norm);
    this.conv3 = convNoBias(store, 'conv3', {
      inChannels: planes,
      outChannels,
      kernelSize: 1,
      stride: 1,
    });
    this.bn3 = norm(store, 'bn3', outChannels, options.norm);
    if (options.zeroInitResidual) tf.tidy(() => this.bn3.weight.assign(tf.zeros([outChannels])));
    this.downsample = projection(store, options, outChannels);
  }

  apply(x: tf.Tensor4D, mode: NormMode): tf.Tensor4D {
    return tf.tidy(() => {
      const a = tf.relu(this.bn1.apply(this.conv1.apply(x), mode));
      const b = tf.relu(this.bn2.apply(this.conv2.apply(a), mode));
      const branch = this.bn3.apply(this.conv3.apply(b), mode);
      const shortcut = this.downsample ? this.downsample.apply(x, mode) : x;
      return tf.relu(tf.add(branch, shortcut) as tf.Tensor4D);
    });
  }
}

/**
 * ResNet (He et al. 2016) as torchvision builds it, NHWC, returning the last feature map
 * of each stage (C2–C5, strides 4–32). Parameter names are torchvision's
 * (`conv1.weight`, `layer1.0.bn1.running_mean`, `layer2.0.downsample.0.weight`, ...), so
 * torchvision checkpoints load name for name (`loadTorchvisionWeights`).
 */
export class ResNet {
  readonly parameters: ParameterStore;
  readonly options: Readonly<Required<Omit<ResNetOptions, 'store'>>>;
  /** Channels and stride of c2…c5. */
  readonly outputShapes: ResNetShapeSpec;
  private readonly conv1: Conv2d;
  private readonly bn1: NormLayer;
  private readonly stages: Block[][];

  constructor(options: ResNetOptions) {
    const architecture = ARCHITECTURES[options.depth];
    if (!architecture) {
      throw new Error(`ResNet depth ${options.depth} is not one of 18, 34, 50, 101`);
    }
    const style = options.style ?? 'pytorch';
    if (style !== 'pytorch' && style !== 'caffe') {
      throw new Error(`ResNet style '${style}' is not 'pytorch' or 'caffe'`);
    }
    const frozenStages = options.frozenStages ?? 1;
    if (!Number.isInteger(frozenStages) || frozenStages < -1 || frozenStages > 4) {
      throw new Error(`ResNet frozenStages ${frozenStages} must be an integer from -1 to 4`);
    }
    const widthMultiplier = options.widthMultiplier ?? 1;
    const base = 64 * widthMultiplier;
    if (!Number.isInteger(base) || base < 1) {
      throw new Error(
        `ResNet widthMultiplier ${widthMultiplier} must make 64·w a positive integer (got ${base})`,
      );
    }
    this.options = {
      depth: options.depth,
      style,
      frozenStages,
      widthMultiplier,
      trainableNormAffine: options.trainableNormAffine ?? false,
      zeroInitResidual: options.zeroInitResidual ?? false,
      norm: options.norm ?? 'frozen-bn',
      normGroups: options.normGroups ?? 32,
      normMomentum: options.normMomentum ?? 0.1,
    };
    this.parameters = options.store ?? new ParameterStore();
    const store = this.parameters;
    if (!NORMS.includes(this.options.norm)) {
      throw new Error(`ResNet norm '${this.options.norm}' is not one of ${NORMS.join(', ')}`);
    }
    const normOptions: NormOptions = {
      trainableAffine: this.options.trainableNormAffine,
      kind: this.options.norm,
      groups: this.options.normGroups,
      momentum: this.options.normMomentum,
    };

    this.conv1 = new Conv2d(store.scope('conv1'), {
      inChannels: 3,
      outChannels: base,
      kernelSize: 7,
      stride: 2,
      padding: 3,
      bias: false,
      weightInit: kaimingNormal({ mode: 'fanOut' }),
    });
    this.bn1 = norm(store, 'bn1', base, normOptions);

    const Block = architecture.block === 'basic' ? BasicBlock : Bottleneck;
    let inChannels = base;
    this.stages = [];
    const shapes: Partial<ResNetShapeSpec> = {};
    architecture.blocks.forEach((count, stage) => {
      const planes = base * 2 ** stage;
      const layer = store.scope(`layer${stage + 1}`);
      const blocks: Block[] = [];
      for (let index = 0; index < count; index++) {
        blocks.push(
          new Block(layer.scope(String(index)), {
            inChannels,
            planes,
            stride: index === 0 && stage > 0 ? 2 : 1,
            style,
            norm: normOptions,
            zeroInitResidual: this.options.zeroInitResidual,
          }),
        );
        inChannels = planes * Block.expansion;
      }
      this.stages.push(blocks);
      shapes[FEATURE_NAMES[stage] as ResNetFeatureName] = {
        channels: inChannels,
        stride: 4 * 2 ** stage,
      };
    });
    this.outputShapes = shapes as ResNetShapeSpec;
    this.freeze(frozenStages);
  }

  /** Freezes the stem and the first `stages` stages (mmdetection's `_freeze_stages`). */
  private freeze(stages: number): void {
    if (stages < 0) return;
    this.parameters.setTrainable('conv1.', false);
    this.parameters.setTrainable('bn1.', false);
    for (let stage = 1; stage <= stages; stage++) {
      this.parameters.setTrainable(`layer${stage}.`, false);
    }
  }

  /**
   * Runs the network on NHWC images. `training` matters only to `norm: 'batch'` (batch
   * statistics in the stages `frozenStages` leaves unfrozen, running statistics elsewhere);
   * `updateStatistics: false` keeps its running statistics where they are.
   */
  apply(images: tf.Tensor4D, options: ResNetApplyOptions = {}): ResNetOutputs {
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new Error(
        `ResNet expects NHWC images with 3 channels, got shape [${images.shape.join(', ')}]`,
      );
    }
    const frozen = this.options.frozenStages;
    const modeOf = (stage: number): NormMode => ({
      training: (options.training ?? false) && stage > frozen,
      ...(options.updateStatistics === undefined
        ? {}
        : { updateStatistics: options.updateStatistics }),
    });
    return tf.tidy(() => {
      const stem = tf.relu(this.bn1.apply(this.conv1.apply(images), modeOf(0)));
      // torchvision's MaxPool2d(3, stride 2, padding 1): padded cells never win the max.
      let x = tf.maxPool(stem, 3, 2, 1) as tf.Tensor4D;
      const outputs: Partial<ResNetOutputs> = {};
      this.stages.forEach((blocks, stage) => {
        for (const block of blocks) x = block.apply(x, modeOf(stage + 1));
        outputs[FEATURE_NAMES[stage] as ResNetFeatureName] = x;
      });
      return outputs as ResNetOutputs;
    });
  }

  dispose(): void {
    this.parameters.dispose();
  }
}

/** A torchvision ResNet-18/34/50/101 backbone returning `{ c2, c3, c4, c5 }`. */
export function createResNet(options: ResNetOptions): ResNet {
  return new ResNet(options);
}
