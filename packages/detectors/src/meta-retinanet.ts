import {
  type AnchorCode,
  type AnchorSetInput,
  MetaAnchorFunction,
  metaAnchorFunction,
} from '@det/anchors-meta';
import type { RetinaNetConfig } from './config';
import type { Detector } from './detector';
import { RetinaNet } from './retinanet';

export interface MetaRetinaNetOptions {
  /** A RetinaNet config with `anchorScheme.type === 'meta'`. */
  config: RetinaNetConfig;
}

/**
 * RetinaNet whose head ends in MetaAnchor's generated anchor functions (Yang et al. 2018,
 * §3.3): trained on a Table 1 anchor configuration with jittered anchors, it detects with
 * any inference anchor set without retraining (`setInferenceAnchors`).
 */
export class MetaRetinaNet extends RetinaNet {
  constructor(options: MetaRetinaNetOptions) {
    const { config } = options;
    const scheme = config.anchorScheme;
    if (scheme.type !== 'meta') {
      throw new Error(
        `MetaRetinaNet: config.anchorScheme.type must be 'meta', got ${JSON.stringify(scheme.type)}`,
      );
    }
    const { strides, octaveBaseScale } = config.head.anchors;
    super({
      config,
      anchorFunction: metaAnchorFunction({
        anchors: scheme.anchors,
        ...(scheme.inferenceAnchors ? { inferenceAnchors: scheme.inferenceAnchors } : {}),
        ...(scheme.standardBox ? { standardBox: scheme.standardBox } : {}),
        dataDependent: scheme.dataDependent,
        hiddenSize: scheme.hiddenSize,
        jitter: scheme.jitter,
        strides,
        // (scale, ratio) anchors multiply RetinaNet's base size: octave base scale × P3 stride.
        baseSize: (octaveBaseScale ?? 4) * strides[0]!,
        seed: config.train.seed,
      }),
    });
  }

  /** The head's MetaAnchor anchor functions (generators, training and inference anchors). */
  get anchorFunction(): MetaAnchorFunction {
    return this.head.anchorFunction as MetaAnchorFunction;
  }

  /** Detect with another anchor set from now on: a Table 1 preset or any list (§4.1.2). */
  setInferenceAnchors(anchors: AnchorSetInput): void {
    this.anchorFunction.setInferenceAnchors(anchors);
  }

  /** The codes `b` (eq. 7) inference uses. */
  get inferenceAnchorCodes(): readonly AnchorCode[] {
    return this.anchorFunction.inferenceAnchorCodes;
  }
}

/**
 * The MetaAnchor anchor function of a detector, whether built from an `anchorScheme: meta`
 * config or with `createDetector(config, { anchorFunction: metaAnchorFunction(...) })`;
 * undefined for any other anchor scheme.
 */
export function metaAnchorFunctionOf(detector: Detector): MetaAnchorFunction | undefined {
  if (!(detector instanceof RetinaNet)) return undefined;
  const anchorFunction = detector.head.anchorFunction;
  return anchorFunction instanceof MetaAnchorFunction ? anchorFunction : undefined;
}
