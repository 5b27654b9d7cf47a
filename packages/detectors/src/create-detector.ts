import { ParameterStore, withInitializerSeed } from '@det/core';
import type { AnchorFunctionFactory, AnchorHead, RoiHead } from '@det/heads';
import { buildDenseHead, buildRoiHead } from './build-parts';
import { type DetectorConfig, type DetectorConfigInput, parseDetectorConfig } from './config';
import type { Detector } from './detector';
import {
  DenseProposalSource,
  type FeaturePyramid,
  PrecomputedProposalSource,
  type ProposalSource,
  resnetFpnPyramid,
} from './parts';
import { SingleStageDetector } from './single-stage-detector';
import { TwoStageDetector } from './two-stage-detector';

/**
 * Parts a user hands `createDetector` instead of the config's: objects built against
 * `parameters` (so the detector trains and saves them). Whatever is not given is built from
 * the config.
 */
export interface DetectorParts {
  /** The store the given parts keep their parameters in. Default a new one. */
  parameters?: ParameterStore;
  /** Backbone + neck. Default ResNet + FPN from `config.backbone`. */
  backbone?: FeaturePyramid;
  /**
   * The anchor scheme of the dense head (single-stage head or proposal head), replacing the
   * config's `anchorScheme`, which must then stay `dense` (it would have no effect).
   */
  anchorFunction?: AnchorFunctionFactory;
  /** The dense head (single-stage) or proposal head (two-stage with `proposals.type: 'rpn'`). */
  head?: AnchorHead;
  /** A two-stage detector's proposal source. */
  proposals?: ProposalSource;
  /** A two-stage detector's RoI head. */
  roiHead?: RoiHead;
}

/** How many of the finest levels the RoI head pools (FPN: P2–P5). */
const roiLevels = 4;

/**
 * Builds a detector from a (validated) config and optional parts: one of two
 * meta-architectures, `SingleStageDetector` or `TwoStageDetector`. The initial weights of the
 * config-built parts are drawn from `config.train.seed`, so a config names one model exactly.
 */
export function createDetector(
  input: DetectorConfig | DetectorConfigInput,
  parts: DetectorParts = {},
): Detector {
  const config = parseDetectorConfig(input);
  checkParts(config, parts);
  return withInitializerSeed(config.train.seed, () => build(config, parts));
}

function checkParts(config: DetectorConfig, parts: DetectorParts): void {
  const head = config.kind === 'single-stage' ? config.head : config.proposals;
  const field = config.kind === 'single-stage' ? 'head' : 'proposals';
  if (parts.anchorFunction) {
    if (head.type === 'precomputed') {
      throw new Error(
        "createDetector: parts.anchorFunction has no dense head to end (proposals.type is 'precomputed')",
      );
    }
    if (head.anchorScheme.type !== 'dense') {
      throw new Error(
        `createDetector: config ${field}.anchorScheme ('${head.anchorScheme.type}') would be ignored: parts.anchorFunction replaces it; leave it 'dense' or drop the part`,
      );
    }
  }
  if (parts.head && parts.anchorFunction) {
    throw new Error('createDetector: parts.anchorFunction has no effect when parts.head is given');
  }
  if (config.kind === 'single-stage' && (parts.proposals || parts.roiHead)) {
    throw new Error(
      'createDetector: parts.proposals / parts.roiHead have no effect on a single-stage detector',
    );
  }
  if (config.kind === 'two-stage' && parts.proposals && (parts.head || parts.anchorFunction)) {
    throw new Error(
      'createDetector: parts.head / parts.anchorFunction have no effect when parts.proposals is given',
    );
  }
}

function build(config: DetectorConfig, parts: DetectorParts): Detector {
  const parameters = parts.parameters ?? new ParameterStore();
  const seed = config.train.seed;
  if (config.kind === 'single-stage') {
    const { head } = config;
    const backbone =
      parts.backbone ??
      resnetFpnPyramid(config.backbone, head.type === 'retina' ? 'p3-p7' : 'p2-p6', parameters);
    const denseHead =
      parts.head ??
      buildDenseHead({
        head,
        numClasses: head.type === 'retina' ? config.numClasses! : 1,
        inChannels: backbone.channels,
        strides: backbone.strides,
        store: parameters,
        seed,
        anchorFunction: parts.anchorFunction,
      });
    return new SingleStageDetector({
      config,
      parameters,
      backbone,
      head: denseHead,
      output:
        head.type === 'retina'
          ? { mode: 'detections', test: config.test! }
          : { mode: 'proposals', test: head.testProposals },
    });
  }
  const backbone = parts.backbone ?? resnetFpnPyramid(config.backbone, 'p2-p6', parameters);
  const source = config.proposals;
  const proposals =
    parts.proposals ??
    (source.type === 'precomputed'
      ? new PrecomputedProposalSource({ maxPerImage: source.maxPerImage })
      : new DenseProposalSource({
          head:
            parts.head ??
            buildDenseHead({
              head: source,
              numClasses: 1,
              inChannels: backbone.channels,
              strides: backbone.strides,
              store: parameters,
              seed,
              anchorFunction: parts.anchorFunction,
            }),
          trainProposals: source.trainProposals,
          testProposals: source.testProposals,
        }));
  const roiHead =
    parts.roiHead ??
    buildRoiHead({
      roi: config.roi,
      numClasses: config.numClasses,
      inChannels: backbone.channels,
      featmapStrides: backbone.strides.slice(0, roiLevels),
      store: parameters,
      seed,
    });
  return new TwoStageDetector({
    config,
    parameters,
    backbone,
    proposals,
    roiHead,
    roiLevels,
    test: config.test,
  });
}
