import { GuidedAnchorFunction } from '@det/anchors-guided';
import { MetaAnchorFunction } from '@det/anchors-meta';
import type { AnchorHead } from '@det/heads';
import type { Detector } from './detector';
import { SingleStageDetector } from './single-stage-detector';
import { TwoStageDetector } from './two-stage-detector';

/** The dense head of a detector: a single-stage head or a two-stage proposal head. */
export function denseHeadOf(detector: Detector): AnchorHead | undefined {
  if (detector instanceof SingleStageDetector) return detector.head;
  if (detector instanceof TwoStageDetector) return detector.denseHead;
  return undefined;
}

/**
 * The MetaAnchor anchor function of a detector's dense head (`meta` scheme or a user's
 * `metaAnchorFunction(...)` part), e.g. to `setInferenceAnchors`; undefined otherwise.
 */
export function metaAnchorFunctionOf(detector: Detector): MetaAnchorFunction | undefined {
  const anchorFunction = denseHeadOf(detector)?.anchorFunction;
  return anchorFunction instanceof MetaAnchorFunction ? anchorFunction : undefined;
}

/** The Guided Anchoring anchor function (`guided` / `meta-guided`) of a detector's dense head. */
export function guidedAnchorFunctionOf(detector: Detector): GuidedAnchorFunction | undefined {
  const anchorFunction = denseHeadOf(detector)?.anchorFunction;
  return anchorFunction instanceof GuidedAnchorFunction ? anchorFunction : undefined;
}
