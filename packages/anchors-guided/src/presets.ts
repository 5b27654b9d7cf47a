import { ApproxMaxIoUAssigner } from './approx-max-iou-assigner';
import type { GuidedAnchorFunctionOptions } from './guided-anchor-function';

/**
 * GA-RPN's anchor function (mmdetection `ga_rpn_r50_fpn_1x`): σ = 8, anchor-coder std 0.14 on
 * (dw, dh), shape targets from an approx-max-IoU assigner (0.7 / 0.3 / 0.3) and 256 random
 * samples, half positive. Use it in an RPN-style head (P2–P6, one shared tower, 1×1
 * `rpn_cls` / `rpn_reg`, zero class bias):
 * `createRpnHead({ anchorFunction: guidedAnchorFunction(gaRpnAnchorOptions()) })`; the head's
 * own assigner and coder (mmdetection: stds 0.07, 0.07, 0.11, 0.11) are the detector's.
 */
export function gaRpnAnchorOptions(
  overrides: Partial<GuidedAnchorFunctionOptions> = {},
): GuidedAnchorFunctionOptions {
  return {
    squareScale: 8,
    octaveBaseScale: 8,
    scalesPerOctave: 3,
    deltaStd: 0.14,
    deformGroups: 4,
    locationThreshold: 0.01,
    shapeTargets: {
      assigner: new ApproxMaxIoUAssigner({
        posIouThreshold: 0.7,
        negIouThreshold: 0.3,
        minPosIou: 0.3,
      }),
    },
    ...overrides,
  };
}

/**
 * GA-RetinaNet's anchor function (mmdetection `ga_retinanet_r50_caffe_fpn_1x`): σ = 4,
 * `octave_base_scale` 4, anchor-coder std 1 (mmdetection's `anchor_coder.target_stds` for
 * GA-RetinaNet are 1.0; 0.14 is GA-RPN's), shape assigner 0.5 / 0.4 / 0.4 with 256 random
 * samples. Use it in a RetinaNet-style head (P3–P7, separate cls / reg adaption, 3×3
 * `retina_cls` / `retina_reg`).
 */
export function gaRetinaNetAnchorOptions(
  overrides: Partial<GuidedAnchorFunctionOptions> = {},
): GuidedAnchorFunctionOptions {
  return {
    squareScale: 4,
    octaveBaseScale: 4,
    scalesPerOctave: 3,
    deltaStd: 1,
    deformGroups: 4,
    locationThreshold: 0.01,
    shapeTargets: {
      assigner: new ApproxMaxIoUAssigner({
        posIouThreshold: 0.5,
        negIouThreshold: 0.4,
        minPosIou: 0.4,
      }),
    },
    ...overrides,
  };
}
