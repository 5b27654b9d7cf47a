import { z } from 'zod';

const positive = z.number().positive();
const probability = z.number().min(0).max(1);

/** One anchor as `@det/anchors-meta` takes it: a size, a (scale, ratio) pair or a code `b`. */
const anchorSpecSchema = z.union([
  z.strictObject({ height: positive, width: positive }),
  z.strictObject({ scale: positive, ratio: positive }),
  z.strictObject({ code: z.tuple([z.number(), z.number()]) }),
]);

/** A MetaAnchor Table 1 preset name or a non-empty list of anchors. */
export const anchorSetSchema = z.union([
  z.enum(['3x3', '5x5', '7x7', '9x9']),
  z.array(anchorSpecSchema).min(1),
]);

/** Sliding-window anchors at every location: ratios × scales (or RetinaNet's octave scales). */
export const denseAnchorsSchema = z.strictObject({
  ratios: z.array(positive).min(1),
  octaveBaseScale: positive.optional(),
  scalesPerOctave: z.number().int().positive().optional(),
  scales: z.array(positive).optional(),
});

/** The MetaAnchor fields shared by `meta` and `meta-guided` (Yang et al. 2018). */
const generatorFields = {
  /** Eq. 6 (`+ W12·gap(x)`) instead of eq. 4–5. */
  dataDependent: z.boolean().default(false),
  /** m of eq. 5 (§4: 128). */
  hiddenSize: z.number().int().positive().default(128),
  /** (AH, AW) on the first level; `meta`: Table 1's for a preset, else (44, 44); `meta-guided`: σ·stride₀ square. */
  standardBox: z.tuple([positive, positive]).optional(),
};

/** Guided Anchoring's fields (GA §3, mmdetection's GA configs); defaults per head style. */
export interface GuidedDefaults {
  /** σ of `w = σ·s·e^dw` (GA eq. 2): GA-RPN 8, GA-RetinaNet 4. */
  squareScale: number;
  /** `octave_base_scale` of the level assignment and of the approximating anchors. */
  octaveBaseScale: number;
  scalesPerOctave: number;
  /** Aspect ratios h/w of the approximating anchors used for vIoU (GA §3.2). */
  approxRatios: number[];
  /** `anchor_coder` std of (dw, dh): GA-RPN 0.14, GA-RetinaNet 1 (mmdetection). */
  anchorDeltaStd: number;
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
  /**
   * Inference path (`@det/anchors-guided`'s `sparseInference`): `'always'` evaluates everything
   * after the location branch at the kept locations (p ≥ εL) only, `'never'` at every location,
   * `'auto'` sparse per level up to the kept fraction `sparseMaxKept` (default: the backend's
   * measured `sparseMaxKeptByBackend` entry). Same predictions at kept locations either way.
   */
  sparseInference: 'auto' | 'always' | 'never';
  /** λ1 of GA eq. 4, the weight of `loss_loc` (paper 1; mmdetection `loss_loc.loss_weight` 1). */
  locationLossWeight: number;
  /** λ2 of GA eq. 4, the weight of `loss_shape` (paper 0.1, §4.1; mmdetection `loss_shape.loss_weight` 1). */
  shapeLossWeight: number;
  /** Weight of a negative location in `loss_loc` (paper: not stated; mmdetection `ga_loc_target` 0.1). */
  locationNegativeWeight: number;
  /**
   * Divisor of `loss_loc`: `{ mode: 'cells', divisor }` (all cells ÷ divisor; mmdetection's
   * `loc_avg_factor`, divisor 200), `{ mode: 'positives' }` or `{ mode: 'constant', value }`.
   */
  locationLossNormalizer: LocationNormalizerConfig;
  /** Location i is centred at (i + centerOffset)·s: 0 (mmdetection's `center_offset`, i·s) or 0.5. */
  centerOffset: number;
  /**
   * Ignore boxes (crowd, MetaAnchor's dropped objects) are ignored in `loss_loc` too, not
   * learnt as background (paper: "loss 0"; mmdetection's `ga_loc_target` ignores none).
   */
  locationIgnoreBoxes: boolean;
}

/** `@det/anchors-guided`'s `LocationNormalizer`. */
export type LocationNormalizerConfig =
  | { mode: 'positives' }
  | { mode: 'cells'; divisor: number }
  | { mode: 'constant'; value: number };

const locationNormalizerSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('positives') }),
  z.strictObject({ mode: z.literal('cells'), divisor: positive }),
  z.strictObject({ mode: z.literal('constant'), value: positive }),
]);

/**
 * mmdetection `ga_rpn_r50_fpn_1x` (`rpn_head`, `train_cfg.rpn`). The loss settings follow
 * mmdetection, not the paper: λ1 = λ2 = 1 and negatives 0.1 over cells ÷ 200 are the values
 * behind mmdetection's published GA numbers, which the 1× presets reproduce; the paper's
 * λ2 = 0.1 is `shapeLossWeight: 0.1` (the paper names neither the negative weight nor the
 * divisor).
 */
export const gaRpnGuidedDefaults: GuidedDefaults = {
  squareScale: 8,
  octaveBaseScale: 8,
  scalesPerOctave: 3,
  approxRatios: [0.5, 1, 2],
  anchorDeltaStd: 0.14,
  locationThreshold: 0.01,
  centerRatio: 0.2,
  ignoreRatio: 0.5,
  deformGroups: 4,
  adaptionWeightStd: 0.01,
  shapeAssigner: { posIouThreshold: 0.7, negIouThreshold: 0.3, minPosIou: 0.3 },
  shapeSampleSize: 256,
  shapePositiveFraction: 0.5,
  shapeLossNormalizer: 'samples',
  sparseInference: 'auto',
  locationLossWeight: 1,
  shapeLossWeight: 1,
  locationNegativeWeight: 0.1,
  locationLossNormalizer: { mode: 'cells', divisor: 200 },
  centerOffset: 0,
  locationIgnoreBoxes: true,
};

/**
 * mmdetection `ga_retinanet_r50_caffe_fpn_1x`: σ 4, octave base 4, `anchor_coder` stds 1 (not
 * GA-RPN's 0.14: mmdetection's GA-RetinaNet config sets `target_stds=[1.0, 1.0, 1.0, 1.0]`).
 */
export const gaRetinaNetGuidedDefaults: GuidedDefaults = {
  ...gaRpnGuidedDefaults,
  squareScale: 4,
  octaveBaseScale: 4,
  anchorDeltaStd: 1,
  shapeAssigner: { posIouThreshold: 0.5, negIouThreshold: 0.4, minPosIou: 0.4 },
};

function guidedFields(defaults: GuidedDefaults) {
  return {
    squareScale: positive.default(defaults.squareScale),
    octaveBaseScale: positive.default(defaults.octaveBaseScale),
    scalesPerOctave: z.number().int().positive().default(defaults.scalesPerOctave),
    approxRatios: z.array(positive).min(1).default(defaults.approxRatios),
    anchorDeltaStd: positive.default(defaults.anchorDeltaStd),
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
    sparseInference: z.enum(['auto', 'always', 'never']).default(defaults.sparseInference),
    /** Largest kept fraction at which `'auto'` runs a level sparsely; default per backend. */
    sparseMaxKept: z.number().gt(0).max(1).optional(),
    locationLossWeight: z.number().min(0).default(defaults.locationLossWeight),
    shapeLossWeight: z.number().min(0).default(defaults.shapeLossWeight),
    locationNegativeWeight: z.number().min(0).default(defaults.locationNegativeWeight),
    locationLossNormalizer: locationNormalizerSchema.default(defaults.locationLossNormalizer),
    centerOffset: probability.default(defaults.centerOffset),
    locationIgnoreBoxes: z.boolean().default(defaults.locationIgnoreBoxes),
    /**
     * GA's modules on / off (GA Table 4's L. / S. / F.A. ablation; `@det/anchors-guided`'s
     * `components`); absent: all on. `featureAdaption` needs `shape`.
     */
    components: z
      .strictObject({
        location: z.boolean().optional(),
        shape: z.boolean().optional(),
        featureAdaption: z.boolean().optional(),
      })
      .optional(),
  };
}

/** `sparseMaxKept` only means something to `sparseInference: 'auto'`. */
function checkSparseBelow(
  scheme: { sparseInference: string; sparseMaxKept?: number | undefined },
  context: z.RefinementCtx,
): void {
  if (scheme.sparseMaxKept !== undefined && scheme.sparseInference !== 'auto') {
    context.addIssue({
      code: 'custom',
      path: ['sparseMaxKept'],
      message: `has no effect with sparseInference '${scheme.sparseInference}' (only 'auto' chooses by the kept fraction)`,
    });
  }
}

/** Feature adaption's offsets come from the predicted shape: it needs the shape branch. */
function checkComponents(
  scheme: { components?: { shape?: boolean | undefined; featureAdaption?: boolean | undefined } },
  context: z.RefinementCtx,
): void {
  const components = scheme.components;
  if (components?.shape === false && components.featureAdaption !== false) {
    context.addIssue({
      code: 'custom',
      path: ['components', 'featureAdaption'],
      message:
        'feature adaption needs the shape branch (its offsets come from the predicted shape): with components.shape false set components.featureAdaption false too',
    });
  }
}

/** Both refinements of a guided scheme. */
function checkGuided(
  scheme: Parameters<typeof checkSparseBelow>[0] & Parameters<typeof checkComponents>[0],
  context: z.RefinementCtx,
): void {
  checkSparseBelow(scheme, context);
  checkComponents(scheme, context);
}

/** What a head style brings to its schemes' defaults. */
export interface SchemeDefaults {
  /** The dense scheme's anchors (RetinaNet: 3 ratios × 3 octave scales; RPN: 3 ratios × scale 8). */
  denseAnchors: z.input<typeof denseAnchorsSchema>;
  guided: GuidedDefaults;
}

/**
 * The anchor scheme of a dense head, one of:
 * - `dense`: sliding-window anchors, A·K + A·4 fixed filters (RetinaNet, RPN);
 * - `meta`: MetaAnchor, filters generated from anchor boxes (any inference anchors);
 * - `guided`: Guided Anchoring, one predicted anchor per location;
 * - `meta-guided`: GA's anchors with the final filters generated per location by MetaAnchor.
 */
export function anchorSchemeSchema(defaults: SchemeDefaults) {
  return z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('dense'),
      anchors: denseAnchorsSchema.default(denseAnchorsSchema.parse(defaults.denseAnchors)),
    }),
    z.strictObject({
      type: z.literal('meta'),
      /** Training anchor configuration (Table 1). */
      anchors: anchorSetSchema.default('3x3'),
      /** Inference anchors; default the training ones. Change later without retraining. */
      inferenceAnchors: anchorSetSchema.optional(),
      /** ±range of the uniform jitter of every b while training (§4: 0.5); 0 disables it. */
      jitter: z.number().min(0).default(0.5),
      /** What (scale, ratio) anchors multiply on the first level (RetinaNet 4 × 8 = 32). */
      baseSize: positive.default(32),
      ...generatorFields,
    }),
    z
      .strictObject({ type: z.literal('guided'), ...guidedFields(defaults.guided) })
      .superRefine(checkGuided),
    z
      .strictObject({
        type: z.literal('meta-guided'),
        ...guidedFields(defaults.guided),
        ...generatorFields,
      })
      .superRefine(checkGuided),
  ]);
}

export const retinaSchemeDefaults: SchemeDefaults = {
  denseAnchors: { ratios: [0.5, 1, 2], octaveBaseScale: 4, scalesPerOctave: 3 },
  guided: gaRetinaNetGuidedDefaults,
};

export const rpnSchemeDefaults: SchemeDefaults = {
  denseAnchors: { ratios: [0.5, 1, 2], scales: [8] },
  guided: gaRpnGuidedDefaults,
};

export const retinaAnchorSchemeSchema = anchorSchemeSchema(retinaSchemeDefaults);
export const rpnAnchorSchemeSchema = anchorSchemeSchema(rpnSchemeDefaults);

export type AnchorSchemeConfig = z.output<typeof retinaAnchorSchemeSchema>;
export type AnchorSchemeType = AnchorSchemeConfig['type'];
export type MetaAnchorSchemeConfig = Extract<AnchorSchemeConfig, { type: 'meta' }>;
export type GuidedSchemeConfig = Extract<AnchorSchemeConfig, { type: 'guided' | 'meta-guided' }>;
export type MetaGuidedSchemeConfig = Extract<AnchorSchemeConfig, { type: 'meta-guided' }>;
export type DenseAnchorsConfig = z.output<typeof denseAnchorsSchema>;
export type AnchorSetConfig = z.output<typeof anchorSetSchema>;
