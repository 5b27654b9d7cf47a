import { z } from 'zod';

const positive = z.number().positive();
const probability = z.number().min(0).max(1);
const stds = z.tuple([positive, positive, positive, positive]);

/** Everything a Guided Anchoring head takes from a config (GA §3, mmdetection's GA configs). */
export interface GuidedAnchoringConfig {
  /** σ of `w = σ·s·e^dw` (GA eq. 2): GA-RPN 8, GA-RetinaNet 4 (the square anchor's scale). */
  squareScale: number;
  /** `octave_base_scale` of the level assignment and of the approximating anchors. */
  octaveBaseScale: number;
  scalesPerOctave: number;
  /** Aspect ratios h/w of the approximating anchors used for vIoU (GA §3.2). */
  approxRatios: number[];
  /** `anchor_coder` std of (dw, dh): GA-RPN 0.14, GA-RetinaNet 1. */
  anchorDeltaStd: number;
  /** `bbox_coder` stds of the guided anchors' regression: GA-RPN 0.07, 0.07, 0.11, 0.11. */
  targetStds: [number, number, number, number];
  /** εL: inference evaluates only locations with p ≥ this (`loc_filter_thr`, GA §3.4). */
  locationThreshold: number;
  /** σ1 / σ2 of the location targets (GA §3.4). */
  centerRatio: number;
  ignoreRatio: number;
  /** Std of the feature adaption's deformable-conv init (mmdetection `conv_adaption` 0.01). */
  adaptionWeightStd: number;
  /** Deformable groups of the feature adaption (GA §3.3). */
  deformGroups: number;
  /** `ga_assigner` (approx-max-IoU) thresholds of the shape targets. */
  shapeAssigner: { posIouThreshold: number; negIouThreshold: number; minPosIou: number };
  /** `ga_sampler`: random sampler of the shape targets. */
  shapeSampleSize: number;
  shapePositiveFraction: number;
  /**
   * Divisor of `loss_shape`: `'samples'` (sampled positives + negatives, mmdetection's
   * `anchor_total_num` with `ga_sampler`) or `'positives'`. With a handful of objects the
   * sampler fills ~256 negatives per image, so `'samples'` shrinks the shape gradient ~50×:
   * the tiny presets use `'positives'` so the shape branch learns within a few hundred steps.
   */
  shapeLossNormalizer: 'samples' | 'positives';
  /** Smooth-L1 β of the box regression (`loss_bbox`: GA-RPN 1.0, GA-RetinaNet 0.04). */
  regressionBeta: number;
  /** Masked cls/reg convs at inference (only where p ≥ εL). */
  sparseInference: boolean;
}

/** mmdetection `ga_rpn_r50_fpn_1x` / `ga_faster_r50_fpn_1x` (`rpn_head`, `train_cfg.rpn`). */
export const gaRpnGuidedDefaults: GuidedAnchoringConfig = {
  squareScale: 8,
  octaveBaseScale: 8,
  scalesPerOctave: 3,
  approxRatios: [0.5, 1, 2],
  anchorDeltaStd: 0.14,
  targetStds: [0.07, 0.07, 0.11, 0.11],
  locationThreshold: 0.01,
  centerRatio: 0.2,
  ignoreRatio: 0.5,
  deformGroups: 4,
  adaptionWeightStd: 0.01,
  shapeAssigner: { posIouThreshold: 0.7, negIouThreshold: 0.3, minPosIou: 0.3 },
  shapeSampleSize: 256,
  shapePositiveFraction: 0.5,
  shapeLossNormalizer: 'samples',
  regressionBeta: 1,
  sparseInference: true,
};

/**
 * mmdetection `ga_retinanet_r50_caffe_fpn_1x`: σ 4, octave base 4, and — unlike GA-RPN —
 * `anchor_coder` and `bbox_coder` stds of 1, `loss_bbox` smooth L1 β 0.04.
 */
export const gaRetinaNetGuidedDefaults: GuidedAnchoringConfig = {
  ...gaRpnGuidedDefaults,
  squareScale: 4,
  octaveBaseScale: 4,
  anchorDeltaStd: 1,
  targetStds: [1, 1, 1, 1],
  shapeAssigner: { posIouThreshold: 0.5, negIouThreshold: 0.4, minPosIou: 0.4 },
  regressionBeta: 0.04,
};

/** The `guided` block of a `ga-*` config; every field defaults to the variant's `defaults`. */
export function guidedAnchoringSchema(defaults: GuidedAnchoringConfig) {
  return z
    .strictObject({
      squareScale: positive.default(defaults.squareScale),
      octaveBaseScale: positive.default(defaults.octaveBaseScale),
      scalesPerOctave: z.number().int().positive().default(defaults.scalesPerOctave),
      approxRatios: z.array(positive).min(1).default(defaults.approxRatios),
      anchorDeltaStd: positive.default(defaults.anchorDeltaStd),
      targetStds: stds.default(defaults.targetStds),
      locationThreshold: probability.default(defaults.locationThreshold),
      centerRatio: probability.default(defaults.centerRatio),
      ignoreRatio: probability.default(defaults.ignoreRatio),
      deformGroups: z.number().int().positive().default(defaults.deformGroups),
      adaptionWeightStd: positive.default(defaults.adaptionWeightStd),
      shapeAssigner: z
        .strictObject({
          posIouThreshold: probability,
          negIouThreshold: probability,
          minPosIou: probability,
        })
        .default(defaults.shapeAssigner),
      shapeSampleSize: z.number().int().positive().default(defaults.shapeSampleSize),
      shapePositiveFraction: probability.default(defaults.shapePositiveFraction),
      shapeLossNormalizer: z.enum(['samples', 'positives']).default(defaults.shapeLossNormalizer),
      regressionBeta: z.number().min(0).default(defaults.regressionBeta),
      sparseInference: z.boolean().default(defaults.sparseInference),
    })
    .default(defaults);
}
