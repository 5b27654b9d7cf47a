import { z } from 'zod';

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
  momentum: z.number().min(0).max(1).default(0.9),
  weightDecay: z.number().min(0).default(1e-4),
  /** Global L2 gradient-norm clip (mmdetection `grad_clip.max_norm`); 0 disables. */
  gradClipNorm: z.number().min(0).default(35),
  warmupIters: z.number().int().min(0).default(500),
  warmupRatio: probability.default(0.001),
  maxIters: z.number().int().positive().default(90000),
  /** Iterations after which the learning rate is multiplied by `gamma` (1×: epochs 8 and 11 of 12). */
  steps: z.array(z.number().int().positive()).default([60000, 80000]),
  gamma: positive.default(0.1),
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

export const detectorConfigSchema = z.discriminatedUnion('kind', [
  retinaNetConfigSchema,
  rpnConfigSchema,
  fasterRcnnConfigSchema,
  fastRcnnConfigSchema,
]);

export type RetinaNetConfig = z.output<typeof retinaNetConfigSchema>;
export type RpnConfig = z.output<typeof rpnConfigSchema>;
export type FasterRcnnConfig = z.output<typeof fasterRcnnConfigSchema>;
export type FastRcnnConfig = z.output<typeof fastRcnnConfigSchema>;
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

/** Presets: mmdetection's 1× configs and tiny CPU versions for the synthetic data (5 classes). */
export const presets = {
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
