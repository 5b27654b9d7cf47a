import { metaAnchorOptions } from '@det/core';
import { describe, expect, it } from 'vitest';
import { parseDetectorConfig, presets } from './config';

describe('RetinaNet anchorScheme config', () => {
  it('defaults to the dense sliding-window head', () => {
    const config = parseDetectorConfig({ kind: 'retinanet', numClasses: 80 });
    if (config.kind !== 'retinanet') throw new Error('kind');
    expect(config.anchorScheme).toEqual({ type: 'dense' });
  });

  it('fills MetaAnchor defaults (§4: 3×3, m = 128, jitter ±0.5, eq. 4–5)', () => {
    const config = parseDetectorConfig({
      kind: 'retinanet',
      numClasses: 80,
      anchorScheme: { type: 'meta' },
    });
    if (config.kind !== 'retinanet') throw new Error('kind');
    expect(config.anchorScheme).toEqual({
      type: 'meta',
      anchors: '3x3',
      dataDependent: false,
      hiddenSize: 128,
      jitter: 0.5,
    });
  });

  it('has MetaAnchor presets and their dense Table 1 baselines', () => {
    const meta = presets.metaRetinanetR50Fpn1x(80, { anchors: '7x7' });
    const dependent = presets.metaRetinanetR50Fpn1xDataDependent();
    const tiny = presets.metaRetinanetTiny();
    const tinyDependent = presets.metaRetinanetTinyDataDependent(5, { anchors: '5x5' });
    for (const config of [meta, dependent, tiny, tinyDependent]) {
      if (config.kind !== 'retinanet' || config.anchorScheme.type !== 'meta') {
        throw new Error('expected a MetaAnchor RetinaNet');
      }
    }
    expect(meta).toMatchObject({ anchorScheme: { anchors: '7x7', dataDependent: false } });
    expect(dependent).toMatchObject({ anchorScheme: { anchors: '3x3', dataDependent: true } });
    const tinyDense = presets.tinyRetinaNet(5);
    expect(tiny).toMatchObject({
      numClasses: 5,
      backbone: (tinyDense as { backbone: unknown }).backbone,
      anchorScheme: { anchors: '3x3', dataDependent: false },
    });
    expect(tinyDependent).toMatchObject({ anchorScheme: { anchors: '5x5', dataDependent: true } });

    for (const n of [3, 5, 7, 9] as const) {
      const baseline = presets.retinanetR50Fpn1xTable1(n);
      const tinyBaseline = presets.tinyRetinaNetTable1(n);
      const { ratios, octaveBaseScale, scalesPerOctave } = metaAnchorOptions(n);
      for (const config of [baseline, tinyBaseline]) {
        if (config.kind !== 'retinanet') throw new Error('kind');
        expect(config.anchorScheme).toEqual({ type: 'dense' });
        expect(config.head.anchors).toMatchObject({ ratios, octaveBaseScale, scalesPerOctave });
      }
    }
  });

  it('accepts anchor lists and names the field and value of bad ones', () => {
    const config = parseDetectorConfig({
      kind: 'retinanet',
      numClasses: 3,
      anchorScheme: {
        type: 'meta',
        anchors: [{ scale: 1, ratio: 2 }, { height: 40, width: 120 }, { code: [0.1, -0.2] }],
        inferenceAnchors: '9x9',
        standardBox: [45, 47],
      },
    });
    expect(config).toMatchObject({ anchorScheme: { inferenceAnchors: '9x9' } });

    const bad = (anchorScheme: unknown) => () =>
      parseDetectorConfig({ kind: 'retinanet', numClasses: 3, anchorScheme }, 'meta.json');
    expect(bad({ type: 'meta', anchors: '4x4' })).toThrow(/meta\.json.*\n.*anchorScheme\.anchors/);
    expect(bad({ type: 'meta', anchors: [] })).toThrow(/anchorScheme\.anchors/);
    expect(bad({ type: 'meta', anchors: [{ scale: -1, ratio: 1 }] })).toThrow(
      /anchorScheme\.anchors/,
    );
    expect(bad({ type: 'meta', hiddenSize: 0 })).toThrow(/anchorScheme\.hiddenSize/);
    expect(bad({ type: 'meta', hiddenSize: 1.5 })).toThrow(/anchorScheme\.hiddenSize/);
    expect(bad({ type: 'meta', jitter: -0.5 })).toThrow(/anchorScheme\.jitter/);
    expect(bad({ type: 'meta', dataDependent: 'yes' })).toThrow(/anchorScheme\.dataDependent/);
    expect(bad({ type: 'meta', standardBox: [44] })).toThrow(/anchorScheme\.standardBox/);
    expect(bad({ type: 'meta', hidenSize: 64 })).toThrow(/hidenSize/);
    expect(bad({ type: 'guided' })).toThrow(/anchorScheme\.type/);
  });
});
