import { mulberry32, normal, priorProbabilityBias, shiftBaseAnchors, zeros } from '@det/core';
import type {
  AnchorFunction,
  AnchorFunctionContext,
  AnchorFunctionFactory,
  AnchorLevelInput,
  AnchorLevelOutput,
} from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import {
  type AnchorCode,
  type AnchorSize,
  checkStandardBox,
  decodeAnchorCode,
  type StandardBox,
  standardBoxAtLevel,
} from './anchor-encoding';
import { AnchorFunctionGenerator } from './anchor-function-generator';
import { type AnchorSetInput, jitterAnchorCodes, resolveAnchorSet } from './anchor-set';
import { type MetaAnchorPresetName, metaAnchorPreset } from './presets';

export interface MetaAnchorOptions {
  /** Training anchor configuration: a Table 1 preset or any list of anchors. Default `'3x3'`. */
  anchors?: AnchorSetInput;
  /** (AH, AW) on the first level. Default the preset's Table 1 value, else (44, 44). */
  standardBox?: StandardBox;
  /** Inference anchors; default the training anchors. Change later with `setInferenceAnchors`. */
  inferenceAnchors?: AnchorSetInput;
  /** Base size that (scale, ratio) pairs multiply on the first level. Default 32 (RetinaNet). */
  baseSize?: number;
  /** ±range of the uniform jitter of every b during training (§4: 0.5); 0 disables it. */
  jitter?: number;
  /** Eq. 6 instead of eq. 4–5. */
  dataDependent?: boolean;
  /** m of eq. 5. Default 128. */
  hiddenSize?: number;
  /** Std of θ*'s filters (RetinaNet: 0.01). */
  weightStd?: number;
  /** Std of W2's init. Default 0.001. */
  residualStd?: number;
}

/** One forward's anchors: the training codes jittered afresh, or the inference codes. */
export interface MetaAnchorPlan {
  codes: readonly AnchorCode[];
}

/**
 * MetaAnchor's anchor functions behind `@det/heads`' seam (Fig. 1b): two generators, for the
 * class (K filters per anchor, option B) and box (4 filters) parts, shared by every level; only
 * the standard box changes from level to level (§3.2) with the head's strides. Training draws
 * the configured anchors with every b jittered by ±0.5 each forward (§4: the forward's `plan`),
 * and the head assigns targets against those jittered anchors; inference uses any anchor set
 * without retraining. Kernel, class prior and jitter seed come from the head's context.
 */
export class MetaAnchorFunction implements AnchorFunction<MetaAnchorPlan> {
  readonly numClasses: number;
  readonly numLevels: number;
  readonly strides: readonly number[];
  readonly standardBox: StandardBox;
  readonly baseSize: number;
  readonly jitter: number;
  readonly cls: AnchorFunctionGenerator;
  readonly reg: AnchorFunctionGenerator;
  private trainingCodes: AnchorCode[];
  private inferenceCodes: AnchorCode[];
  private readonly random: () => number;

  constructor(context: AnchorFunctionContext, options: MetaAnchorOptions = {}) {
    const { numClasses, inChannels, strides } = context;
    if (!(Number.isInteger(numClasses) && numClasses >= 1)) {
      throw new Error(`MetaAnchorFunction: numClasses must be an integer ≥ 1, got ${numClasses}`);
    }
    const anchors = options.anchors ?? '3x3';
    const standardBox =
      options.standardBox ??
      (typeof anchors === 'string'
        ? metaAnchorPreset(anchors as MetaAnchorPresetName).standardBox
        : ([44, 44] as const));
    checkStandardBox(standardBox, 'MetaAnchorFunction');
    if (strides.length === 0 || !strides.every((s) => Number.isFinite(s) && s > 0)) {
      throw new Error(
        `MetaAnchorFunction: strides must be a non-empty list of numbers > 0, got ${JSON.stringify(strides)}`,
      );
    }
    const jitter = options.jitter ?? 0.5;
    if (!(Number.isFinite(jitter) && jitter >= 0)) {
      throw new Error(`MetaAnchorFunction: jitter must be a finite number ≥ 0, got ${jitter}`);
    }
    this.numClasses = numClasses;
    this.numLevels = strides.length;
    this.strides = [...strides];
    this.standardBox = [standardBox[0], standardBox[1]];
    this.baseSize = options.baseSize ?? 32;
    this.jitter = jitter;
    this.random = mulberry32(context.seed);
    this.trainingCodes = this.resolve(anchors);
    this.inferenceCodes = options.inferenceAnchors
      ? this.resolve(options.inferenceAnchors)
      : this.trainingCodes;
    const common = {
      inChannels,
      kernelSize: context.kernelSize,
      hiddenSize: options.hiddenSize ?? 128,
      dataDependent: options.dataDependent ?? false,
      weightInit: normal({ std: options.weightStd ?? 0.01 }),
      residualInit: normal({ std: options.residualStd ?? 0.001 }),
    };
    const { priorProbability } = context;
    this.cls = new AnchorFunctionGenerator({
      ...common,
      store: context.store.scope(context.clsName),
      outChannels: numClasses,
      biasInit: priorProbability === null ? zeros : priorProbabilityBias(priorProbability),
    });
    this.reg = new AnchorFunctionGenerator({
      ...common,
      store: context.store.scope(context.regName),
      outChannels: 4,
      biasInit: zeros,
    });
  }

  private resolve(input: AnchorSetInput): AnchorCode[] {
    return resolveAnchorSet(input, { standardBox: this.standardBox, baseSize: this.baseSize });
  }

  /** Replaces the inference anchors: any preset or list, no retraining (§4.1.2). */
  setInferenceAnchors(input: AnchorSetInput): void {
    this.inferenceCodes = this.resolve(input);
  }

  /** Replaces the training anchor configuration. */
  setTrainingAnchors(input: AnchorSetInput): void {
    this.trainingCodes = this.resolve(input);
  }

  get trainingAnchorCodes(): readonly AnchorCode[] {
    return this.trainingCodes;
  }

  get inferenceAnchorCodes(): readonly AnchorCode[] {
    return this.inferenceCodes;
  }

  /** Anchor sizes on a level (pixels) for `codes` (default the inference anchors). */
  anchorSizes(level: number, codes: readonly AnchorCode[] = this.inferenceCodes): AnchorSize[] {
    const stride = this.strides[level];
    if (stride === undefined) {
      throw new Error(`MetaAnchorFunction: level ${level} is outside 0..${this.numLevels - 1}`);
    }
    const box = standardBoxAtLevel(this.standardBox, stride / this.strides[0]!);
    return codes.map((code) => decodeAnchorCode(code, box));
  }

  /** This forward's anchors: jittered training codes (a fresh draw each call) or the inference ones. */
  plan(options: { training: boolean }): MetaAnchorPlan {
    return {
      codes: options.training
        ? jitterAnchorCodes(this.trainingCodes, { range: this.jitter, random: this.random })
        : this.inferenceCodes,
    };
  }

  /**
   * `[H·W·A, 4]` xyxy priors in (H, W, A) order, centered on `(x·stride, y·stride)` as
   * mmdetection's `AnchorGenerator` with `center_offset = 0`.
   */
  levelPriors(
    level: number,
    height: number,
    width: number,
    codes: readonly AnchorCode[] = this.inferenceCodes,
  ): tf.Tensor2D {
    const sizes = this.anchorSizes(level, codes);
    const stride = this.strides[level]!;
    const base = new Float32Array(sizes.length * 4);
    sizes.forEach(({ height: h, width: w }, a) => {
      base.set([-w / 2, -h / 2, w / 2, h / 2], a * 4);
    });
    return shiftBaseAnchors(base, [height, width], [stride, stride]);
  }

  apply(input: AnchorLevelInput<MetaAnchorPlan>): AnchorLevelOutput {
    const { codes } = input.plan;
    const [batch, height, width] = input.clsFeature.shape;
    const count = height * width * codes.length;
    return tf.tidy(() => {
      const codeTensor = tf.tensor2d(codes.flat(), [codes.length, 2], 'float32');
      return {
        // Channel a·K + k is anchor a, class k: the dense head's layout.
        clsScores: tf.reshape(this.cls.apply(input.clsFeature, codeTensor), [
          batch,
          count,
          this.numClasses,
        ]) as tf.Tensor3D,
        boxDeltas: tf.reshape(this.reg.apply(input.regFeature, codeTensor), [
          batch,
          count,
          4,
        ]) as tf.Tensor3D,
        priors: this.levelPriors(input.level, height, width, codes),
      };
    });
  }
}

/** The MetaAnchor scheme as a head's anchor-function factory. */
export function metaAnchorFunction(
  options: MetaAnchorOptions = {},
): AnchorFunctionFactory<MetaAnchorPlan> {
  return (context) => new MetaAnchorFunction(context, options);
}
