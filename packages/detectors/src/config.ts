import { metaAnchorOptions } from '@det/core';
import { z } from 'zod';
import { anchorSchemeSchema, type MetaAnchorSchemeConfig } from './anchor-scheme-config';
import {
  gaRetinaNetGuidedDefaults,
  gaRpnGuidedDefaults,
  guidedAnchoringSchema,
} from './guided-anchoring-config';

const positive = z.number().positive();
const probability = z.number().min(0).max(1);

export const backboneConfigSchema = z.object({
  depth: z.union([z.literal(18), z.literal(34), z.literal(50), z.literal(101)]).default(50),
  style: z.enum(['pytorch', 'caffe']).default('pytorch'),
  /** mmdetection `frozen_stages` (1: stem and layer1 frozen, the 1× default). */
  frozenStages: z.number().int().min(-1).max(4).default(1),
  widthMultiplier: positive.default(1),
  trainableNormAffine: z.boolean().default(false),
  zeroInitResidual: z.boolean().default(false),
  /** 'group': GroupNorm instead of frozen BN, for backbones trained from scratch. */
  norm: z.enum(['frozen-bn', 'group']).default('frozen-bn'),
  normGroups: z.number().int().positive().default(32),
  fpnChannels: z.number().int().positive().default(256),
});

export const anchorConfigSchema = z.object({
  strides: z.array(positive).min(1),
  ratios: z.array(positive).min(1),
  octaveBaseScale: positive.optional(),
  scalesPerOctave: z.number().int().positive().optional(),
  scales: z.array(positive).optional(),
});

export const detectionTestSchema = z.object({
  nmsPre: z.number().int().positive().default(1000),
  scoreThreshold: z.number().min(0).default(0.05),
  iouThreshold: probability.default(0.5),
  maxPerImage: z.number().int().positive().default(100),
});

export const proposalSchema = z.object({
  nmsPre: z.number().int().positive().default(1000),
  iouThreshold: probability.default(0.7),
  maxPerImage: z.number().int().positive().default(1000),
  minBoxSize: z.number().min(0).default(0),
});

/** mmdetection's 1× schedule, by iterations. */
export const trainConfigSchema = z.object({
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
  /** Seeds the initial weights (`createDetector`) and the RPN/RoI samplers. */
  seed: z.number().int().default(0),
});

export const retinaNetConfigSchema = z.object({
  kind: z.literal('retinanet'),
  numClasses: z.number().int().positive(),
  backbone: backboneConfigSchema.default(backboneConfigSchema.parse({})),
  head: z
    .object({
      featChannels: z.number().int().positive().default(256),
      stackedConvs: z.number().int().min(0).default(4),
      anchors: anchorConfigSchema.default({
        strides: [8, 16, 32, 64, 128],
        ratios: [0.5, 1, 2],
        octaveBaseScale: 4,
        scalesPerOctave: 3,
      }),
      focalAlpha: probability.default(0.25),
      focalGamma: z.number().min(0).default(2),
    })
    .default({
      featChannels: 256,
      stackedConvs: 4,
      anchors: {
        strides: [8, 16, 32, 64, 128],
        ratios: [0.5, 1, 2],
        octaveBaseScale: 4,
        scalesPerOctave: 3,
      },
      focalAlpha: 0.25,
      focalGamma: 2,
    }),
  /** Which anchor function ends the head: sliding-window (`dense`) or MetaAnchor (`meta`). */
  anchorScheme: anchorSchemeSchema.default({ type: 'dense' }),
  test: detectionTestSchema.default(detectionTestSchema.parse({})),
  train: trainConfigSchema.default(trainConfigSchema.parse({})),
});

const rpnHeadSchema = z.object({
  featChannels: z.number().int().positive().default(256),
  anchors: anchorConfigSchema.default({
    strides: [4, 8, 16, 32, 64],
    ratios: [0.5, 1, 2],
    scales: [8],
  }),
  /** Proposals handed to the RoI head while training (mmdetection `rpn_proposal`: nms_pre 2000). */
  trainProposals: proposalSchema.default({
    nmsPre: 2000,
    iouThreshold: 0.7,
    maxPerImage: 1000,
    minBoxSize: 0,
  }),
  testProposals: proposalSchema.default(proposalSchema.parse({})),
  sampleSize: z.number().int().positive().default(256),
  positiveFraction: probability.default(0.5),
});

const roiHeadSchema = z.object({
  fcChannels: z.number().int().positive().default(1024),
  roiSize: z.number().int().positive().default(7),
  samplingRatio: z.number().int().min(0).default(0),
  sampleSize: z.number().int().positive().default(512),
  positiveFraction: probability.default(0.25),
  /** Deltas normalised by these stds (mmdetection's `target_stds`). */
  targetStds: z.tuple([positive, positive, positive, positive]).default([0.1, 0.1, 0.2, 0.2]),
});

export const rpnConfigSchema = z.object({
  kind: z.literal('rpn'),
  backbone: backboneConfigSchema.default(backboneConfigSchema.parse({})),
  rpn: rpnHeadSchema.default(rpnHeadSchema.parse({})),
  train: trainConfigSchema.default(trainConfigSchema.parse({ baseLr: 0.02 })),
});

export const fasterRcnnConfigSchema = z.object({
  kind: z.literal('faster-rcnn'),
  numClasses: z.number().int().positive(),
  backbone: backboneConfigSchema.default(backboneConfigSchema.parse({})),
  rpn: rpnHeadSchema.default(rpnHeadSchema.parse({})),
  roi: roiHeadSchema.default(roiHeadSchema.parse({})),
  test: detectionTestSchema.default(detectionTestSchema.parse({})),
  train: trainConfigSchema.default(trainConfigSchema.parse({ baseLr: 0.02 })),
});

/** Fast R-CNN (Girshick 2015) with FPN on precomputed proposals: the RoI head alone. */
export const fastRcnnConfigSchema = z.object({
  kind: z.literal('fast-rcnn'),
  numClasses: z.number().int().positive(),
  backbone: backboneConfigSchema.default(backboneConfigSchema.parse({})),
  roi: roiHeadSchema.default(roiHeadSchema.parse({})),
  test: detectionTestSchema.default(detectionTestSchema.parse({})),
  train: trainConfigSchema.default(trainConfigSchema.parse({ baseLr: 0.02 })),
});

/**
 * GA-RPN (Wang et al. 2019, §4; mmdetection `ga_rpn_r50_fpn_1x`): the RPN's 3×3 `rpn_conv`
 * followed by a Guided Anchoring head on P2–P6; `rpn.anchors` is unused (anchors are predicted).
 */
export const gaRpnConfigSchema = rpnConfigSchema.extend({
  kind: z.literal('ga-rpn'),
  guided: guidedAnchoringSchema(gaRpnGuidedDefaults),
});

/**
 * GA-RetinaNet (mmdetection `ga_retinanet_r50_caffe_fpn_1x`): cls and reg towers, one feature
 * adaption each, 3×3 `retina_cls` / `retina_reg`; `head.anchors` is unused.
 */
export const gaRetinaNetConfigSchema = retinaNetConfigSchema.extend({
  kind: z.literal('ga-retinanet'),
  guided: guidedAnchoringSchema(gaRetinaNetGuidedDefaults),
});

/**
 * GA-Faster R-CNN (mmdetection `ga_faster_r50_fpn_1x`): GA-RPN + the RoI head; 300 proposals,
 * RoI assigner IoU 0.6, 256 RoIs, RoI deltas stds 0.05, 0.05, 0.1, 0.1, score threshold 1e-3.
 */
export const gaFasterRcnnConfigSchema = fasterRcnnConfigSchema.extend({
  kind: z.literal('ga-faster-rcnn'),
  rpn: rpnHeadSchema.default(
    rpnHeadSchema.parse({
      trainProposals: { nmsPre: 2000, maxPerImage: 300 },
      testProposals: { nmsPre: 1000, maxPerImage: 300 },
    }),
  ),
  roi: roiHeadSchema.default(
    roiHeadSchema.parse({ sampleSize: 256, targetStds: [0.05, 0.05, 0.1, 0.1] }),
  ),
  /** IoU of the RoI head's positive / negative split (mmdetection GA-Faster 0.6; Faster 0.5). */
  roiIouThreshold: probability.default(0.6),
  test: detectionTestSchema.default(detectionTestSchema.parse({ scoreThreshold: 0.001 })),
  guided: guidedAnchoringSchema(gaRpnGuidedDefaults),
});

export const detectorConfigSchema = z.discriminatedUnion('kind', [
  retinaNetConfigSchema,
  rpnConfigSchema,
  fasterRcnnConfigSchema,
  fastRcnnConfigSchema,
  gaRpnConfigSchema,
  gaRetinaNetConfigSchema,
  gaFasterRcnnConfigSchema,
]);

export type RetinaNetConfig = z.output<typeof retinaNetConfigSchema>;
export type RpnConfig = z.output<typeof rpnConfigSchema>;
export type FasterRcnnConfig = z.output<typeof fasterRcnnConfigSchema>;
export type FastRcnnConfig = z.output<typeof fastRcnnConfigSchema>;
export type GaRpnConfig = z.output<typeof gaRpnConfigSchema>;
export type GaRetinaNetConfig = z.output<typeof gaRetinaNetConfigSchema>;
export type GaFasterRcnnConfig = z.output<typeof gaFasterRcnnConfigSchema>;
export type DetectorConfig = z.output<typeof detectorConfigSchema>;
export type DetectorConfigInput = z.input<typeof detectorConfigSchema>;
export type TrainConfig = z.output<typeof trainConfigSchema>;

/** Validates a config, naming every bad field and value. */
export function parseDetectorConfig(input: unknown, source = 'config'): DetectorConfig {
  const result = detectorConfigSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`${source}: invalid detector config\n  ${problems.join('\n  ')}`);
  }
  return result.data;
}

/** The tiny CPU backbone: ResNet-18 at 1/4 width, 32-channel FPN, trained from scratch. */
const tinyBackbone = {
  depth: 18,
  widthMultiplier: 0.25,
  frozenStages: -1,
  trainableNormAffine: true,
  zeroInitResidual: true,
  fpnChannels: 32,
} as const;

/** A tiny schedule for a few hundred steps on 2 CPU cores. */
const tinyTrain = {
  baseLr: 0.02,
  baseBatchSize: 2,
  batchSize: 2,
  warmupIters: 50,
  warmupRatio: 0.1,
  maxIters: 1000,
  steps: [800],
} as const;

/**
 * The tiny GA presets' `guided` overrides: the shape loss divided by positives (see
 * `GuidedAnchoringConfig.shapeLossNormalizer`) and the feature adaption started at std 0.06
 * instead of 0.01 (more gradient reaches the from-scratch towers). GA-RPN also drops
 * mmdetection's 0.14 anchor-coder std: a (dw, dh) of log 2 then needs a ~7× larger output of a
 * from-scratch 1×1 conv.
 */
const tinyGuided = { shapeLossNormalizer: 'positives', adaptionWeightStd: 0.06 } as const;
const tinyGaRpnGuided = { ...tinyGuided, anchorDeltaStd: 1 } as const;

/** MetaAnchor preset options: Table 1 training anchors and eq. 4–5 vs eq. 6. */
export type MetaAnchorPresetOptions = Partial<Omit<MetaAnchorSchemeConfig, 'type'>>;

/** MetaAnchor Table 1 as `@det/core`'s `metaAnchorOptions(n)` for the dense baseline. */
function table1DenseAnchors(n: 3 | 5 | 7 | 9) {
  const { ratios, octaveBaseScale, scalesPerOctave } = metaAnchorOptions(n);
  return { strides: [8, 16, 32, 64, 128], ratios: [...ratios], octaveBaseScale, scalesPerOctave };
}

/** Presets: mmdetection's 1× configs and tiny CPU versions for the synthetic data (5 classes). */
export const presets = {
  /** GA-RPN, mmdetection `ga_rpn_r50_fpn_1x` (σ 8, εL 0.01, bbox stds 0.07/0.07/0.11/0.11). */
  gaRpnR50Fpn1x: (): DetectorConfig => parseDetectorConfig({ kind: 'ga-rpn' }),
  /** GA-RetinaNet, mmdetection `ga_retinanet_r50_caffe_fpn_1x` (σ 4). */
  gaRetinanetR50Fpn1x: (numClasses = 80): DetectorConfig =>
    parseDetectorConfig({ kind: 'ga-retinanet', numClasses }),
  /** GA-Faster R-CNN, mmdetection `ga_faster_r50_fpn_1x`. */
  gaFasterRcnnR50Fpn1x: (numClasses = 80): DetectorConfig =>
    parseDetectorConfig({ kind: 'ga-faster-rcnn', numClasses }),
  /** `tinyRpn` with a Guided Anchoring head. */
  tinyGaRpn: (): DetectorConfig =>
    parseDetectorConfig({
      kind: 'ga-rpn',
      backbone: tinyBackbone,
      rpn: { featChannels: 32 },
      guided: tinyGaRpnGuided,
      train: { ...tinyTrain, baseLr: 0.02 },
    }),
  /** `tinyRetinaNet` with a Guided Anchoring head. */
  tinyGaRetinaNet: (numClasses = 5): DetectorConfig =>
    parseDetectorConfig({
      kind: 'ga-retinanet',
      numClasses,
      backbone: tinyBackbone,
      head: { featChannels: 32, stackedConvs: 1 },
      guided: tinyGuided,
      // AdamW: AP50 1.0 on the overfit set in 150 steps at lr 0.001 and 0.002; SGD at lr 0.02
      // gave 0.36–1.0 after 150 steps depending on the initial weights.
      train: { ...tinyTrain, optimizer: 'adam', baseLr: 0.002 },
    }),
  /** `tinyFasterRcnn` with GA-RPN. */
  tinyGaFasterRcnn: (numClasses = 5): DetectorConfig =>
    parseDetectorConfig({
      kind: 'ga-faster-rcnn',
      numClasses,
      backbone: tinyBackbone,
      rpn: {
        featChannels: 32,
        trainProposals: { nmsPre: 1000, maxPerImage: 300 },
        testProposals: { nmsPre: 500, maxPerImage: 300 },
      },
      roi: { fcChannels: 128, sampleSize: 128, targetStds: [0.05, 0.05, 0.1, 0.1] },
      train: { ...tinyTrain, baseLr: 0.02 },
    }),
  retinanetR50Fpn1x: (numClasses = 80): DetectorConfig =>
    parseDetectorConfig({ kind: 'retinanet', numClasses }),
  fasterRcnnR50Fpn1x: (numClasses = 80): DetectorConfig =>
    parseDetectorConfig({ kind: 'faster-rcnn', numClasses }),
  rpnR50Fpn1x: (): DetectorConfig => parseDetectorConfig({ kind: 'rpn' }),
  tinyRetinaNet: (numClasses = 5): DetectorConfig =>
    parseDetectorConfig({
      kind: 'retinanet',
      numClasses,
      backbone: tinyBackbone,
      head: {
        featChannels: 32,
        stackedConvs: 1,
        anchors: {
          strides: [8, 16, 32, 64, 128],
          ratios: [0.5, 1, 2],
          octaveBaseScale: 4,
          scalesPerOctave: 3,
        },
      },
      train: tinyTrain,
    }),
  /** MetaAnchor RetinaNet (data-independent, eq. 4–5), Table 1 `3x3` unless told. */
  metaRetinanetR50Fpn1x: (numClasses = 80, options: MetaAnchorPresetOptions = {}): DetectorConfig =>
    parseDetectorConfig({
      kind: 'retinanet',
      numClasses,
      anchorScheme: { type: 'meta', ...options },
    }),
  /** MetaAnchor RetinaNet with data-dependent anchor functions (eq. 6). */
  metaRetinanetR50Fpn1xDataDependent: (
    numClasses = 80,
    options: MetaAnchorPresetOptions = {},
  ): DetectorConfig =>
    presets.metaRetinanetR50Fpn1x(numClasses, { ...options, dataDependent: true }),
  /** The dense RetinaNet baseline with the same Table 1 anchors (n scales × n ratios). */
  retinanetR50Fpn1xTable1: (n: 3 | 5 | 7 | 9, numClasses = 80): DetectorConfig =>
    parseDetectorConfig({
      kind: 'retinanet',
      numClasses,
      head: { anchors: table1DenseAnchors(n) },
    }),
  /** `tinyRetinaNet` with a MetaAnchor head (data-independent). */
  metaRetinanetTiny: (numClasses = 5, options: MetaAnchorPresetOptions = {}): DetectorConfig => {
    const tiny = presets.tinyRetinaNet(numClasses);
    return parseDetectorConfig({
      ...tiny,
      anchorScheme: { type: 'meta', hiddenSize: 32, ...options },
      // The generated filters train reliably with Adam from scratch (AP50 1.0 on the overfit
      // set with the paper's ±0.5 jitter in 150 steps); SGD at the baseline's lr gave 0.15.
      train: { ...tiny.train, optimizer: 'adam', baseLr: 0.002 },
    });
  },
  metaRetinanetTinyDataDependent: (
    numClasses = 5,
    options: MetaAnchorPresetOptions = {},
  ): DetectorConfig => presets.metaRetinanetTiny(numClasses, { ...options, dataDependent: true }),
  /** `tinyRetinaNet` with the dense Table 1 anchors: the baseline of `metaRetinanetTiny`. */
  tinyRetinaNetTable1: (n: 3 | 5 | 7 | 9, numClasses = 5): DetectorConfig => {
    const tiny = presets.tinyRetinaNet(numClasses);
    if (tiny.kind !== 'retinanet')
      throw new Error('presets.tinyRetinaNetTable1: expected a RetinaNet');
    return parseDetectorConfig({
      ...tiny,
      head: {
        ...tiny.head,
        anchors: { ...table1DenseAnchors(n), strides: tiny.head.anchors.strides },
      },
    });
  },
  tinyFasterRcnn: (numClasses = 5): DetectorConfig =>
    parseDetectorConfig({
      kind: 'faster-rcnn',
      numClasses,
      backbone: tinyBackbone,
      rpn: {
        featChannels: 32,
        anchors: { strides: [4, 8, 16, 32, 64], ratios: [0.5, 1, 2], scales: [8] },
        trainProposals: { nmsPre: 1000, maxPerImage: 300 },
        testProposals: { nmsPre: 500, maxPerImage: 300 },
      },
      roi: { fcChannels: 128, sampleSize: 128 },
      train: { ...tinyTrain, baseLr: 0.02 },
    }),
  fastRcnnR50Fpn1x: (numClasses = 80): DetectorConfig =>
    parseDetectorConfig({ kind: 'fast-rcnn', numClasses }),
  tinyFastRcnn: (numClasses = 5): DetectorConfig =>
    parseDetectorConfig({
      kind: 'fast-rcnn',
      numClasses,
      backbone: tinyBackbone,
      roi: { fcChannels: 128, sampleSize: 128 },
      train: { ...tinyTrain, baseLr: 0.02 },
    }),
  tinyRpn: (): DetectorConfig =>
    parseDetectorConfig({
      kind: 'rpn',
      backbone: tinyBackbone,
      rpn: { featChannels: 32 },
      train: { ...tinyTrain, baseLr: 0.02 },
    }),
};
