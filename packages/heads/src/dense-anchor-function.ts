import {
  AnchorGenerator,
  type AnchorGeneratorOptions,
  Conv2d,
  normal,
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

/** The sliding-window anchors of every level: `AnchorGeneratorOptions` less the strides (the head's). */
export type DenseAnchorShapes = Omit<AnchorGeneratorOptions, 'strides'>;

export interface DenseAnchorFunctionOptions {
  /** Ratios and scales of the anchors at every location; A = ratios × scales. */
  anchors: DenseAnchorShapes;
  /** Std of the normal weight init (RetinaNet, RPN: 0.01). */
  weightStd?: number;
}

/**
 * The sliding-window anchor function of RetinaNet and RPN: one conv with A·K class filters
 * and one with A·4 box filters, shared by all levels, over an `AnchorGenerator`'s anchors on
 * the head's strides.
 */
export class DenseAnchorFunction implements AnchorFunction<undefined> {
  readonly numClasses: number;
  readonly numLevels: number;
  readonly numAnchors: number;
  readonly priorGenerator: PriorGenerator;
  private readonly cls: Conv2d;
  private readonly reg: Conv2d;
  private readonly priorCache = new Map<string, tf.Tensor2D>();

  constructor(context: AnchorFunctionContext, options: DenseAnchorFunctionOptions) {
    const { numClasses, inChannels, kernelSize, priorProbability } = context;
    const priorGenerator = new AnchorGenerator({ ...options.anchors, strides: context.strides });
    const counts = priorGenerator.numBasePriors;
    const numAnchors = counts[0]!;
    if (!(Number.isInteger(numClasses) && numClasses >= 1)) {
      throw new Error(`DenseAnchorFunction: numClasses must be an integer ≥ 1, got ${numClasses}`);
    }
    this.numClasses = numClasses;
    this.numLevels = priorGenerator.numLevels;
    this.numAnchors = numAnchors;
    this.priorGenerator = priorGenerator;
    const padding = (kernelSize - 1) / 2;
    const weightInit = normal({ std: options.weightStd ?? 0.01 });
    this.cls = new Conv2d(context.store.scope(context.clsName), {
      inChannels,
      outChannels: numAnchors * numClasses,
      kernelSize,
      padding,
      weightInit,
      biasInit: priorProbability === null ? zeros : priorProbabilityBias(priorProbability),
    });
    this.reg = new Conv2d(context.store.scope(context.regName), {
      inChannels,
      outChannels: numAnchors * 4,
      kernelSize,
      padding,
      weightInit,
      biasInit: zeros,
    });
  }

  plan(): undefined {
    return undefined;
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

  apply(input: AnchorLevelInput<undefined>): AnchorLevelOutput {
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

/** The sliding-window scheme as a head's anchor-function factory. */
export function denseAnchorFunction(
  options: DenseAnchorFunctionOptions,
): AnchorFunctionFactory<undefined> {
  return (context) => new DenseAnchorFunction(context, options);
}
