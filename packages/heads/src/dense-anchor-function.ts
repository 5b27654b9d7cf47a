import {
  Conv2d,
  normal,
  type ParameterStore,
  type PriorGenerator,
  priorProbabilityBias,
  type Size2D,
  zeros,
} from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import type {
  AnchorFunction,
  AnchorFunctionContext,
  AnchorFunctionFactory,
  AnchorLevelInput,
  AnchorLevelOutput,
} from './anchor-function';

export interface DenseAnchorFunctionOptions {
  store: ParameterStore;
  /** Sliding-window anchors (e.g. `AnchorGenerator`); A = its `numBasePriors[level]`, equal on every level. */
  priorGenerator: PriorGenerator;
  inChannels: number;
  numClasses: number;
  /** Kernel of the two output convs: 3 for RetinaNet, 1 for RPN. */
  kernelSize?: number;
  /** Initial foreground probability of every anchor (RetinaNet §4.1: π = 0.01); null: zero bias. */
  priorProbability?: number | null;
  /** Std of the normal weight init (RetinaNet, RPN: 0.01). */
  weightStd?: number;
  clsName?: string;
  regName?: string;
}

/**
 * The sliding-window anchor function of RetinaNet and RPN: one conv with A·K class filters
 * and one with A·4 box filters, shared by all levels, over the anchors of a prior generator.
 */
export class DenseAnchorFunction implements AnchorFunction {
  readonly numClasses: number;
  readonly numLevels: number;
  readonly numAnchors: number;
  readonly priorGenerator: PriorGenerator;
  private readonly cls: Conv2d;
  private readonly reg: Conv2d;
  private readonly priorCache = new Map<string, tf.Tensor2D>();

  constructor(options: DenseAnchorFunctionOptions) {
    const { priorGenerator, numClasses, inChannels } = options;
    const counts = priorGenerator.numBasePriors;
    const numAnchors = counts[0];
    if (numAnchors === undefined || counts.some((count) => count !== numAnchors)) {
      throw new Error(
        `DenseAnchorFunction: every level needs the same number of anchors, got numBasePriors [${counts.join(', ')}]`,
      );
    }
    if (!(Number.isInteger(numClasses) && numClasses >= 1)) {
      throw new Error(`DenseAnchorFunction: numClasses must be an integer ≥ 1, got ${numClasses}`);
    }
    this.numClasses = numClasses;
    this.numLevels = priorGenerator.numLevels;
    this.numAnchors = numAnchors;
    this.priorGenerator = priorGenerator;
    const kernelSize = options.kernelSize ?? 3;
    const padding = (kernelSize - 1) / 2;
    const weightInit = normal({ std: options.weightStd ?? 0.01 });
    const priorProbability =
      options.priorProbability === undefined ? 0.01 : options.priorProbability;
    this.cls = new Conv2d(options.store.scope(options.clsName ?? 'cls'), {
      inChannels,
      outChannels: numAnchors * numClasses,
      kernelSize,
      padding,
      weightInit,
      biasInit: priorProbability === null ? zeros : priorProbabilityBias(priorProbability),
    });
    this.reg = new Conv2d(options.store.scope(options.regName ?? 'reg'), {
      inChannels,
      outChannels: numAnchors * 4,
      kernelSize,
      padding,
      weightInit,
      biasInit: zeros,
    });
  }

  /** Priors of one level for a feature map of this size, generated once and cached. */
  private levelPriors(level: number, height: number, width: number): tf.Tensor2D {
    const key = `${level}:${height}x${width}`;
    let priors = this.priorCache.get(key);
    if (!priors) {
      const sizes = Array.from(
        { length: this.numLevels },
        (_, l): Size2D => (l === level ? [height, width] : [0, 0]),
      );
      const all = this.priorGenerator.gridPriors(sizes);
      priors = tf.keep(all[level]!);
      all.forEach((tensor, l) => {
        if (l !== level) tensor.dispose();
      });
      this.priorCache.set(key, priors);
    }
    return priors;
  }

  apply(input: AnchorLevelInput): AnchorLevelOutput {
    const [batch, height, width] = input.clsFeature.shape;
    const count = height * width * this.numAnchors;
    const priors = this.levelPriors(input.level, height, width);
    return tf.tidy(() => ({
      // Channel a·K + k is anchor a, class k: mmdetection's permute(0, 2, 3, 1).reshape(B, -1, K).
      clsScores: tf.reshape(this.cls.apply(input.clsFeature), [
        batch,
        count,
        this.numClasses,
      ]) as tf.Tensor3D,
      boxDeltas: tf.reshape(this.reg.apply(input.regFeature), [batch, count, 4]) as tf.Tensor3D,
      priors: tf.clone(priors),
    }));
  }

  dispose(): void {
    for (const priors of this.priorCache.values()) priors.dispose();
    this.priorCache.clear();
  }
}

/** A factory for `AnchorHead`: sliding-window anchors from `priorGenerator`. */
export function denseAnchorFunction(
  options: Pick<
    DenseAnchorFunctionOptions,
    'priorGenerator' | 'kernelSize' | 'priorProbability' | 'weightStd'
  >,
): AnchorFunctionFactory {
  return (context: AnchorFunctionContext) =>
    new DenseAnchorFunction({
      ...options,
      store: context.store,
      inChannels: context.inChannels,
      numClasses: context.numClasses,
      clsName: context.clsName,
      regName: context.regName,
    });
}
