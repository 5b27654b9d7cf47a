import { RandomSampler } from '@det/core';
import { ApproxMaxIoUAssigner } from './approx-max-iou-assigner';
import type { GuidedAnchorFunctionOptions } from './guided-anchor-function';

/**
 * GA-RPN's anchor function (mmdetection `ga_rpn_r50_fpn_1x`): P2–P6, σ = 8, one shared tower
 * (`feature_adaption`), 1×1 `rpn_cls` / `rpn_reg`, anchor-coder std 0.14 on (dw, dh), shape
 * targets from an approx-max-IoU assigner (0.7 / 0.3 / 0.3) and 256 random samples, half positive.
 * Pass to `createRpnHead({ anchorFunction: guidedAnchorFunction(gaRpnAnchorOptions()) })`; the
 * head's own assigner and coder (mmdetection: stds 0.07, 0.07, 0.11, 0.11) are the detector's.
 */
export function gaRpnAnchorOptions(
  overrides: Partial<GuidedAnchorFunctionOptions> = {},
): GuidedAnchorFunctionOptions & { sharedTower: boolean } {
  return {
    strides: [4, 8, 16, 32, 64],
    squareScale: 8,
    octaveBaseScale: 8,
    scalesPerOctave: 3,
    deltaStd: 0.14,
    headKernelSize: 1,
    clsPriorProbability: null,
    deformGroups: 4,
    locationThreshold: 0.01,
    sharedTower: true,
    shapeTargets: {
      assigner: new ApproxMaxIoUAssigner({
        posIouThreshold: 0.7,
        negIouThreshold: 0.3,
        minPosIou: 0.3,
      }),
      sampler: new RandomSampler({ num: 256, posFraction: 0.5 }),
    },
    ...overrides,
  };
}

/**
 * GA-RetinaNet's anchor function (mmdetection `ga_retinanet_r50_fpn_1x`): P3–P7, σ = 4,
 * `octave_base_scale` 4, separate cls / reg adaption, 3×3 `retina_cls` / `retina_reg`,
 * anchor-coder std 0.14, shape assigner 0.5 / 0.4 / 0.4 with 256 random samples.
 */
export function gaRetinaNetAnchorOptions(
  overrides: Partial<GuidedAnchorFunctionOptions> = {},
): GuidedAnchorFunctionOptions & { sharedTower: boolean } {
  return {
    strides: [8, 16, 32, 64, 128],
    squareScale: 4,
    octaveBaseScale: 4,
    scalesPerOctave: 3,
    deltaStd: 0.14,
    headKernelSize: 3,
    deformGroups: 4,
    locationThreshold: 0.01,
    sharedTower: false,
    shapeTargets: {
      assigner: new ApproxMaxIoUAssigner({
        posIouThreshold: 0.5,
        negIouThreshold: 0.4,
        minPosIou: 0.4,
      }),
      sampler: new RandomSampler({ num: 256, posFraction: 0.5 }),
    },
    ...overrides,
  };
}
