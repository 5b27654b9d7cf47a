import { normal, priorProbabilityBias, zeros } from '@det/core';
import type { AnchorConditionedLayerFactory } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { checkStandardBox, type StandardBox } from './anchor-encoding';
import { AnchorFunctionGenerator } from './anchor-function-generator';

export interface MetaAnchorLayerOptions {
  /** (AH, AW) on the first level; doubles with the stride (§3.2). */
  standardBox: StandardBox;
  /** m of eq. 5. Default 128. */
  hiddenSize?: number;
  /** Eq. 6 (`+ W12·gap(x)` inside the relu) instead of eq. 4–5. Default false. */
  dataDependent?: boolean;
  /** Std of θ*'s filters. Default 0.01. */
  weightStd?: number;
  /** Std of W2's init. Default 0.001. */
  residualStd?: number;
}

/**
 * MetaAnchor's generated final layer for a scheme with one anchor per location (`meta-guided`):
 * each location's filters are θ_b = θ* + W2·relu(W1·b) with its own anchor's
 * b = (log(ah/AH_l), log(aw/AW_l)), evaluated in the low-rank form of
 * `AnchorFunctionGenerator.applyPerLocation` (at inference `applyPerRow` on the kept
 * locations' im2col rows; eq. 6 has no row-wise form and runs densely). θ* keeps the plain
 * conv's names (`weight`, `bias`), the generator lives under `generator.*`.
 */
export function metaAnchorLayer(options: MetaAnchorLayerOptions): AnchorConditionedLayerFactory {
  checkStandardBox(options.standardBox, 'metaAnchorLayer');
  return (context) => {
    const { priorProbability, strides } = context;
    const generator = new AnchorFunctionGenerator({
      store: context.store,
      inChannels: context.inChannels,
      outChannels: context.outChannels,
      kernelSize: context.kernelSize,
      hiddenSize: options.hiddenSize ?? 128,
      dataDependent: options.dataDependent ?? false,
      weightInit: normal({ std: options.weightStd ?? 0.01 }),
      residualInit: normal({ std: options.residualStd ?? 0.001 }),
      biasInit: priorProbability === null ? zeros : priorProbabilityBias(priorProbability),
    });
    const codesOf = <T extends tf.Tensor>(anchorLogSizes: T, level: number): T => {
      const scale = strides[level]! / strides[0]!;
      const logStandard = tf.tensor1d([
        Math.log(options.standardBox[0] * scale),
        Math.log(options.standardBox[1] * scale),
      ]);
      return tf.sub(anchorLogSizes, logStandard) as T;
    };
    return {
      apply: ({ feature, level, anchorLogSizes }) =>
        tf.tidy(() => generator.applyPerLocation(feature, codesOf(anchorLogSizes, level))),
      // Eq. 6 reads the whole adapted map (r(x)): no row-wise form, GA then runs densely.
      ...(options.dataDependent
        ? {}
        : {
            applyRows: ({ columns, level, anchorLogSizes }) =>
              tf.tidy(() => generator.applyPerRow(columns, codesOf(anchorLogSizes, level))),
          }),
    };
  };
}
