import { describe, expect, it } from 'vitest';
import { parseDetectorConfig, presets } from './config';

describe('detector config', () => {
  it('fills mmdetection 1× defaults', () => {
    const config = parseDetectorConfig({ kind: 'retinanet', numClasses: 80 });
    if (config.kind !== 'retinanet') throw new Error('kind');
    expect(config.backbone).toMatchObject({ depth: 50, frozenStages: 1, fpnChannels: 256 });
    expect(config.head).toMatchObject({
      featChannels: 256,
      stackedConvs: 4,
      focalAlpha: 0.25,
      focalGamma: 2,
    });
    expect(config.test).toEqual({
      nmsPre: 1000,
      scoreThreshold: 0.05,
      iouThreshold: 0.5,
      maxPerImage: 100,
    });
    expect(config.train).toMatchObject({
      baseLr: 0.01,
      momentum: 0.9,
      weightDecay: 1e-4,
      gradClipNorm: 35,
    });
    const faster = presets.fasterRcnnR50Fpn1x();
    if (faster.kind !== 'faster-rcnn') throw new Error('kind');
    expect(faster.roi).toMatchObject({
      roiSize: 7,
      fcChannels: 1024,
      sampleSize: 512,
      positiveFraction: 0.25,
    });
    expect(faster.roi.targetStds).toEqual([0.1, 0.1, 0.2, 0.2]);
    expect(faster.rpn.testProposals).toMatchObject({
      nmsPre: 1000,
      iouThreshold: 0.7,
      maxPerImage: 1000,
    });
  });

  it('names the field and value of a bad config', () => {
    expect(() => parseDetectorConfig({ kind: 'retinanet', numClasses: -3 }, 'my.json')).toThrow(
      /my\.json.*\n.*numClasses/,
    );
    expect(() =>
      parseDetectorConfig({ kind: 'retinanet', numClasses: 3, backbone: { depth: 42 } }),
    ).toThrow(/backbone\.depth/);
    expect(() => parseDetectorConfig({ kind: 'yolo' })).toThrow(/kind/);
  });
});
