import { z } from 'zod';
import {
  type AnchorSchemeType,
  retinaAnchorSchemeSchema,
  rpnAnchorSchemeSchema,
} from './anchor-scheme-config';

const positive = z.number().positive();
const probability = z.number().min(0).max(1);
const stds = z.tuple([positive, positive, positive, positive]);

/** ResNet + FPN: the backbone and its neck (the pyramid levels follow from the detector). */
export const backboneConfigSchema = z.strictObject({
  depth: z.union([z.literal(18), z.literal(34), z.literal(50), z.literal(101)]).default(50),
  style: z.enum(['pytorch', 'caffe']).default('pytorch'),
  /** mmdetection `frozen_stages` (1: stem and layer1 frozen, the 1× default). */
  frozenStages: z.number().int().min(-1).max(4).default(1),
  widthMultiplier: positive.default(1),
  trainableNormAffine: z.boolean().default(false),
  zeroInitResidual: z.boolean().default(false),
  /**
   * 'frozen-bn': fixed statistics (fine-tuning a pretrained backbone). For backbones trained
   * from scratch: 'batch' (BatchNorm with batch statistics, torchvision's from-scratch
   * default) or 'group' (GroupNorm).
   */
  norm: z.enum(['frozen-bn', 'batch', 'group']).default('frozen-bn'),
  normGroups: z.number().int().positive().default(32),
  /** `norm: 'batch'`: weight of each batch in the running statistics (torch's momentum). */
  normMomentum: z.number().min(0).max(1).default(0.1),
  /** Channels of every FPN level (the neck). */
  fpnChannels: z.number().int().positive().default(256),
});

export const detectionTestSchema = z.strictObject({
  nmsPre: z.number().int().positive().default(1000),
  scoreThreshold: z.number().min(0).default(0.05),
  iouThreshold: probability.default(0.5),
  maxPerImage: z.number().int().positive().default(100),
});

export const proposalSchema = z.strictObject({
  nmsPre: z.number().int().positive().default(1000),
  iouThreshold: probability.default(0.7),
  maxPerImage: z.number().int().positive().default(1000),
  minBoxSize: z.number().min(0).default(0),
});

/** A max-IoU assigner's thresholds: IoU ≥ pos positive, < neg negative, low-quality ≥ minPos. */
export const assignerSchema = z.strictObject({
  posIouThreshold: probability,
  negIouThreshold: probability,
  minPosIou: probability,
  /**
   * Priors (anchors, RoIs) whose intersection-over-own-area with an ignore box (COCO crowd,
   * MetaAnchor's dropped objects, Table 4) exceeds this are ignored: no classification or
   * regression loss, also in an image with no other gt. mmdetection's `ignore_iof_thr`; ≤ 0
   * turns it off (mmdetection's default −1, which trains ignore regions as background).
   * Default 0.5.
   */
  ignoreIofThreshold: z.number().min(-1).max(1).default(0.5),
});

/** The box regression loss of a dense head. */
export const regressionSchema = z.discriminatedUnion('loss', [
  z.strictObject({ loss: z.literal('l1') }),
  z.strictObject({ loss: z.literal('smooth-l1'), beta: z.number().min(0).default(1) }),
]);

/** mmdetection's 1× schedule, by iterations. */
export const trainConfigSchema = z.strictObject({
  /** Learning rate at `baseBatchSize` images per step; scaled linearly to `batchSize` (Goyal et al. 2017). */
  baseLr: positive.default(0.01),
  baseBatchSize: z.number().int().positive().default(16),
  batchSize: z.number().int().positive().default(2),
  /** `sgd` (with momentum; the 1× schedules) or `adam` (AdamW; the tiny from-scratch CPU presets). */
  optimizer: z.enum(['sgd', 'adam']).default('sgd'),
  momentum: z.number().min(0).max(1).default(0.9),
  adamBetas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.9, 0.999]),
  weightDecay: z.number().min(0).default(1e-4),
  /** Global L2 gradient-norm clip (mmdetection `grad_clip.max_norm`); 0 disables. */
  gradClipNorm: z.number().min(0).default(35),
  warmupIters: z.number().int().min(0).default(500),
  warmupRatio: probability.default(0.001),
  maxIters: z.number().int().positive().default(90000),
  /** Iterations after which the learning rate is multiplied by `gamma` (1×: epochs 8 and 11 of 12). */
  steps: z.array(z.number().int().positive()).default([60000, 80000]),
  gamma: positive.default(0.1),
  /** Seeds the initial weights (`createDetector`) and the samplers. */
  seed: z.number().int().default(0),
});

type Assigner = z.output<typeof assignerSchema>;
type Regression = z.output<typeof regressionSchema>;
type Stds = [number, number, number, number];

/**
 * What a dense head's target and loss settings default to, by head style and anchor scheme —
 * the one source of these defaults ("a scheme brings its own coder / assigner where the paper
 * says so"): RetinaNet (Lin et al. 2017) 0.5 / 0.4 / 0 with L1; GA-RetinaNet (mmdetection
 * `ga_retinanet_r50_caffe_fpn_1x`) 0.5 / 0.5 / 0 with smooth L1 β 0.04; RPN (Ren et al. 2015)
 * 0.7 / 0.3 / 0.3 with L1; GA-RPN (mmdetection `ga_rpn_r50_fpn_1x`) bbox stds
 * 0.07 / 0.07 / 0.11 / 0.11 and smooth L1 β 1. MetaAnchor keeps its base detector's.
 */
export const headTargetDefaults: Record<
  'retina' | 'rpn',
  Record<'anchor-grid' | 'guided', { assigner: Assigner; targetStds: Stds; regression: Regression }>
> = {
  retina: {
    'anchor-grid': {
      assigner: {
        posIouThreshold: 0.5,
        negIouThreshold: 0.4,
        minPosIou: 0,
        ignoreIofThreshold: 0.5,
      },
      targetStds: [1, 1, 1, 1],
      regression: { loss: 'l1' },
    },
    guided: {
      assigner: {
        posIouThreshold: 0.5,
        negIouThreshold: 0.5,
        minPosIou: 0,
        ignoreIofThreshold: 0.5,
      },
      targetStds: [1, 1, 1, 1],
      regression: { loss: 'smooth-l1', beta: 0.04 },
    },
  },
  rpn: {
    'anchor-grid': {
      assigner: {
        posIouThreshold: 0.7,
        negIouThreshold: 0.3,
        minPosIou: 0.3,
        ignoreIofThreshold: 0.5,
      },
      targetStds: [1, 1, 1, 1],
      regression: { loss: 'l1' },
    },
    guided: {
      assigner: {
        posIouThreshold: 0.7,
        negIouThreshold: 0.3,
        minPosIou: 0.3,
        ignoreIofThreshold: 0.5,
      },
      targetStds: [0.07, 0.07, 0.11, 0.11],
      regression: { loss: 'smooth-l1', beta: 1 },
    },
  },
};

function targetDefaults(style: 'retina' | 'rpn', scheme: AnchorSchemeType) {
  return headTargetDefaults[style][
    scheme === 'guided' || scheme === 'meta-guided' ? 'guided' : 'anchor-grid'
  ];
}

/** Fills a head's target settings the config left out from its style and scheme. */
function withTargetDefaults<
  Head extends {
    anchorScheme: { type: AnchorSchemeType };
    assigner?: Assigner | undefined;
    targetStds?: Stds | undefined;
    regression?: Regression | undefined;
  },
>(style: 'retina' | 'rpn') {
  return (head: Head) => {
    const defaults = targetDefaults(style, head.anchorScheme.type);
    return {
      ...head,
      assigner: head.assigner ?? defaults.assigner,
      targetStds: head.targetStds ?? defaults.targetStds,
      regression: head.regression ?? defaults.regression,
    };
  };
}

const targetFields = {
  /** Positive / negative / low-quality IoU of the head's assigner (default: style × scheme). */
  assigner: assignerSchema.optional(),
  /** Stds of the encoded box deltas (default: style × scheme). */
  targetStds: stds.optional(),
  regression: regressionSchema.optional(),
};

/** RetinaNet-style dense head: cls / reg towers, focal loss over all anchors. */
export const retinaHeadSchema = z
  .strictObject({
    type: z.literal('retina'),
    featChannels: z.number().int().positive().default(256),
    stackedConvs: z.number().int().min(0).default(4),
    focalAlpha: probability.default(0.25),
    focalGamma: z.number().min(0).default(2),
    anchorScheme: retinaAnchorSchemeSchema.prefault({ type: 'dense' }),
    ...targetFields,
  })
  .transform(withTargetDefaults('retina'));

/** RPN-style dense head: one shared 3×3 tower, class-agnostic objectness, sampled anchors. */
export const rpnHeadSchema = z
  .strictObject({
    type: z.literal('rpn'),
    featChannels: z.number().int().positive().default(256),
    /** Anchors sampled per image and their positive fraction (Faster R-CNN: 256, 0.5). */
    sampleSize: z.number().int().positive().default(256),
    positiveFraction: probability.default(0.5),
    anchorScheme: rpnAnchorSchemeSchema.prefault({ type: 'dense' }),
    /** Proposals handed to the RoI head while training (mmdetection `rpn_proposal`: nms_pre 2000). */
    trainProposals: proposalSchema.default({
      nmsPre: 2000,
      iouThreshold: 0.7,
      maxPerImage: 1000,
      minBoxSize: 0,
    }),
    /** Proposals at inference (the detector's output when the RPN stands alone). */
    testProposals: proposalSchema.default(proposalSchema.parse({})),
    ...targetFields,
  })
  .transform(withTargetDefaults('rpn'));

/** The RoI head (Fast R-CNN box head with FPN, RoIAlign on P2–P5). */
export const roiHeadSchema = z.strictObject({
  fcChannels: z.number().int().positive().default(1024),
  roiSize: z.number().int().positive().default(7),
  samplingRatio: z.number().int().min(0).default(0),
  sampleSize: z.number().int().positive().default(512),
  positiveFraction: probability.default(0.25),
  /** RoI assigner (Fast R-CNN 0.5 / 0.5 / 0.5; GA-Faster R-CNN 0.6). No low-quality matches. */
  assigner: assignerSchema.default({
    posIouThreshold: 0.5,
    negIouThreshold: 0.5,
    minPosIou: 0.5,
    ignoreIofThreshold: 0.5,
  }),
  /** Deltas normalised by these stds (mmdetection's `target_stds`). */
  targetStds: stds.default([0.1, 0.1, 0.2, 0.2]),
});

/** Proposals from files (Fast R-CNN): `batch.proposals` / `predict(…, { proposals })`. */
export const precomputedProposalsSchema = z.strictObject({
  type: z.literal('precomputed'),
  /** Keep at most this many per image, the first (highest-scoring) ones; default all. */
  maxPerImage: z.number().int().positive().optional(),
});

/** Backbone → neck → dense head (RetinaNet, RPN, GA-*, Meta-*). */
export const singleStageConfigSchema = z.strictObject({
  kind: z.literal('single-stage'),
  /** Object classes of a `retina` head; an `rpn` head scores objectness only. */
  numClasses: z.number().int().positive().optional(),
  backbone: backboneConfigSchema.default(backboneConfigSchema.parse({})),
  head: z.discriminatedUnion('type', [retinaHeadSchema, rpnHeadSchema]),
  /** Detection post-processing of a `retina` head (an `rpn` head uses `head.testProposals`). */
  test: detectionTestSchema.optional(),
  train: trainConfigSchema.default(trainConfigSchema.parse({})),
});

/** Backbone → neck → proposal source (dense head or files) → RoI head. */
export const twoStageConfigSchema = z.strictObject({
  kind: z.literal('two-stage'),
  numClasses: z.number().int().positive(),
  backbone: backboneConfigSchema.default(backboneConfigSchema.parse({})),
  proposals: z.discriminatedUnion('type', [rpnHeadSchema, precomputedProposalsSchema]),
  roi: roiHeadSchema.default(roiHeadSchema.parse({})),
  test: detectionTestSchema.default(detectionTestSchema.parse({})),
  train: trainConfigSchema.default(trainConfigSchema.parse({ baseLr: 0.02 })),
});

export const detectorConfigSchema = z
  .discriminatedUnion('kind', [singleStageConfigSchema, twoStageConfigSchema])
  .superRefine((config, context) => {
    if (config.kind !== 'single-stage') return;
    if (config.head.type === 'retina' && config.numClasses === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['numClasses'],
        message: "required for a 'retina' head",
      });
    }
    if (config.head.type === 'rpn') {
      for (const field of ['numClasses', 'test'] as const) {
        if (config[field] !== undefined) {
          context.addIssue({
            code: 'custom',
            path: [field],
            message: `has no effect on an 'rpn' head (class-agnostic proposals; set head.testProposals)`,
          });
        }
      }
    }
  })
  .transform((config) =>
    config.kind === 'single-stage' && config.head.type === 'retina'
      ? { ...config, test: config.test ?? detectionTestSchema.parse({}) }
      : config,
  );

export type SingleStageConfig = z.output<typeof singleStageConfigSchema>;
export type TwoStageConfig = z.output<typeof twoStageConfigSchema>;
export type DetectorConfig = z.output<typeof detectorConfigSchema>;
export type DetectorConfigInput = z.input<typeof detectorConfigSchema>;
export type TrainConfig = z.output<typeof trainConfigSchema>;
export type RetinaHeadConfig = z.output<typeof retinaHeadSchema>;
export type RpnHeadConfig = z.output<typeof rpnHeadSchema>;
export type DenseHeadConfig = RetinaHeadConfig | RpnHeadConfig;
export type RoiHeadConfig = z.output<typeof roiHeadSchema>;
export type BackboneConfig = z.output<typeof backboneConfigSchema>;
export type DetectionTestConfig = z.output<typeof detectionTestSchema>;

/**
 * Validates a config, naming every bad field (its dotted path) and value; unknown fields —
 * including a field of another head style or scheme, which would have no effect — are errors.
 */
export function parseDetectorConfig(input: unknown, source = 'config'): DetectorConfig {
  const result = detectorConfigSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const keys = 'keys' in issue ? (issue.keys as string[]) : [];
      const fields = keys.map((key) => (path ? `${path}.${key}` : key));
      const where = fields.length > 0 ? fields.join(', ') : path || '(root)';
      return `${where}: ${issue.message}`;
    });
    throw new Error(`${source}: invalid detector config\n  ${problems.join('\n  ')}`);
  }
  return result.data;
}

/** The named configurations (also importable from here, where they used to live). */
export { presets } from './presets';
