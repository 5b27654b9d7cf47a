import { initBackend } from '@det/core';
import type { DetectionBatch } from '@det/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from './create-detector';
import type { Detector } from './detector';
import { presets } from './presets';
import { metaAnchorFunctionOf } from './scheme-access';
import {
  evaluationSplitSearchWarning,
  searchAnchorConfiguration,
} from './search-anchor-configuration';

// No images: every candidate scores 0 (AP of no detections), so the search itself is instant.
const noBatches = () => (async function* (): AsyncGenerator<DetectionBatch> {})();
const groundTruthJson = { images: [], annotations: [], categories: [{ id: 1, name: 'a' }] };

describe('the greedy anchor search names its data (MetaAnchor §4.1.2: a training subset)', () => {
  let detector: Detector;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    detector = createDetector(presets.metaRetinanetTiny(1));
  });
  afterAll(() => detector.dispose());

  const base = () => ({
    detector,
    batches: noBatches,
    groundTruthJson,
    categoryIds: [1],
    steps: 2,
    seed: 0,
  });

  it('defaults to a training subset, without a warning', async () => {
    const warnings: string[] = [];
    const result = await searchAnchorConfiguration({ ...base(), warn: (m) => warnings.push(m) });
    expect(result.trace).toHaveLength(2);
    expect(warnings).toEqual([]);
  });

  it('refuses the evaluation split unless allowed, and then warns loudly', async () => {
    const codes = metaAnchorFunctionOf(detector)!.inferenceAnchorCodes;
    await expect(
      searchAnchorConfiguration({ ...base(), searchData: 'evaluation-split' }),
    ).rejects.toThrow(/evaluation-split.*refused.*allowEvaluationSplit: true/);
    const warnings: string[] = [];
    const result = await searchAnchorConfiguration({
      ...base(),
      searchData: 'evaluation-split',
      allowEvaluationSplit: true,
      warn: (m) => warnings.push(m),
    });
    expect(result.trace).toHaveLength(2);
    expect(warnings).toEqual([`WARNING: ${evaluationSplitSearchWarning}`]);
    expect(metaAnchorFunctionOf(detector)!.inferenceAnchorCodes).toEqual(codes);
    await expect(
      searchAnchorConfiguration({ ...base(), searchData: 'minival' as 'train-subset' }),
    ).rejects.toThrow(/searchData must be 'train-subset' or 'evaluation-split', got "minival"/);
  });
});
