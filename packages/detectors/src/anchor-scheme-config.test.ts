import { metaAnchorOptions } from '@det/core';
import { describe, expect, it } from 'vitest';
import type { AnchorSchemeConfig } from './anchor-scheme-config';
import { type DetectorConfig, parseDetectorConfig } from './config';
import { presets } from './presets';

/** The anchor scheme of a config's dense head. */
function schemeOf(config: DetectorConfig): AnchorSchemeConfig {
  const head = config.kind === 'single-stage' ? config.head : config.proposals;
  if (head.type === 'precomputed') throw new Error('no dense head');
  return head.anchorScheme;
}

const retina = (anchorScheme?: unknown) =>
  parseDetectorConfig(
    { kind: 'single-stage', numClasses: 80, head: { type: 'retina', anchorScheme } },
    'meta.json',
  );

describe('the anchor scheme of a dense head', () => {
  it('defaults to the dense sliding-window anchors of the head style', () => {
    expect(schemeOf(retina())).toEqual({
      type: 'dense',
      anchors: { ratios: [0.5, 1, 2], octaveBaseScale: 4, scalesPerOctave: 3 },
    });
    expect(schemeOf(presets.rpnR50Fpn1x())).toEqual({
      type: 'dense',
      anchors: { ratios: [0.5, 1, 2], scales: [8] },
    });
  });

  it('fills MetaAnchor defaults (§4: 3×3, m = 128, jitter ±0.5, eq. 4–5)', () => {
    expect(schemeOf(retina({ type: 'meta' }))).toEqual({
      type: 'meta',
      anchors: '3x3',
      dataDependent: false,
      hiddenSize: 128,
      jitter: 0.5,
      baseSize: 32,
    });
  });

  it('fills Guided Anchoring defaults per head style (GA-RetinaNet σ 4 std 1, GA-RPN σ 8 std 0.14)', () => {
    expect(schemeOf(retina({ type: 'guided' }))).toMatchObject({
      squareScale: 4,
      anchorDeltaStd: 1,
    });
    expect(schemeOf(presets.gaRpnR50Fpn1x())).toMatchObject({
      squareScale: 8,
      anchorDeltaStd: 0.14,
    });
    expect(schemeOf(retina({ type: 'meta-guided' }))).toMatchObject({
      type: 'meta-guided',
      squareScale: 4,
      hiddenSize: 128,
      dataDependent: false,
    });
  });

  it('every scheme on both head styles, from presets', () => {
    expect(schemeOf(presets.metaRpnR50Fpn1x()).type).toBe('meta');
    expect(schemeOf(presets.tinyMetaRpn()).type).toBe('meta');
    expect(schemeOf(presets.metaGuidedRetinanetR50Fpn1x()).type).toBe('meta-guided');
    expect(schemeOf(presets.tinyMetaGuidedRetinaNet()).type).toBe('meta-guided');
    const metaGuidedRpn = parseDetectorConfig({
      kind: 'two-stage',
      numClasses: 3,
      proposals: { type: 'rpn', anchorScheme: { type: 'meta-guided' } },
    });
    expect(schemeOf(metaGuidedRpn)).toMatchObject({ type: 'meta-guided', squareScale: 8 });
  });

  it('has MetaAnchor presets and their dense Table 1 baselines', () => {
    const meta = presets.metaRetinanetR50Fpn1x(80, { anchors: '7x7' });
    const dependent = presets.metaRetinanetR50Fpn1xDataDependent();
    const tiny = presets.metaRetinanetTiny();
    const tinyDependent = presets.metaRetinanetTinyDataDependent(5, { anchors: '5x5' });
    expect(schemeOf(meta)).toMatchObject({ anchors: '7x7', dataDependent: false });
    expect(schemeOf(dependent)).toMatchObject({ anchors: '3x3', dataDependent: true });
    expect(tiny).toMatchObject({
      numClasses: 5,
      backbone: presets.tinyRetinaNet(5).backbone,
    });
    expect(schemeOf(tiny)).toMatchObject({ anchors: '3x3', dataDependent: false });
    expect(schemeOf(tinyDependent)).toMatchObject({ anchors: '5x5', dataDependent: true });
    for (const n of [3, 5, 7, 9] as const) {
      const { ratios, octaveBaseScale, scalesPerOctave } = metaAnchorOptions(n);
      for (const config of [
        presets.retinanetR50Fpn1xTable1(80, n),
        presets.tinyRetinaNetTable1(5, n),
      ]) {
        expect(schemeOf(config)).toEqual({
          type: 'dense',
          anchors: { ratios: [...ratios], octaveBaseScale, scalesPerOctave },
        });
      }
    }
  });

  it('accepts anchor lists and names the field and value of bad ones', () => {
    const config = retina({
      type: 'meta',
      anchors: [{ scale: 1, ratio: 2 }, { height: 40, width: 120 }, { code: [0.1, -0.2] }],
      inferenceAnchors: '9x9',
      standardBox: [45, 47],
    });
    expect(schemeOf(config)).toMatchObject({ inferenceAnchors: '9x9' });
    const bad = (anchorScheme: unknown) => () => retina(anchorScheme);
    expect(bad({ type: 'meta', anchors: '4x4' })).toThrow(
      /meta\.json.*\n.*head\.anchorScheme\.anchors/,
    );
    expect(bad({ type: 'meta', anchors: [] })).toThrow(/head\.anchorScheme\.anchors/);
    expect(bad({ type: 'meta', anchors: [{ scale: -1, ratio: 1 }] })).toThrow(
      /head\.anchorScheme\.anchors/,
    );
    expect(bad({ type: 'meta', hiddenSize: 0 })).toThrow(/head\.anchorScheme\.hiddenSize/);
    expect(bad({ type: 'meta', hiddenSize: 1.5 })).toThrow(/head\.anchorScheme\.hiddenSize/);
    expect(bad({ type: 'meta', jitter: -0.5 })).toThrow(/head\.anchorScheme\.jitter/);
    expect(bad({ type: 'meta', dataDependent: 'yes' })).toThrow(
      /head\.anchorScheme\.dataDependent/,
    );
    expect(bad({ type: 'meta', standardBox: [44] })).toThrow(/head\.anchorScheme\.standardBox/);
    expect(bad({ type: 'meta', hidenSize: 64 })).toThrow(/head\.anchorScheme\.hidenSize/);
    expect(bad({ type: 'meta-guided', jitter: 0.5 })).toThrow(/head\.anchorScheme\.jitter/);
    expect(bad({ type: 'sliding' })).toThrow(/head\.anchorScheme\.type/);
  });

  it("GA Table 4's components: absent by default (all on), named errors for bad values", () => {
    for (const preset of [presets.tinyGaRpn(), presets.gaRpnR50Fpn1x(), presets.tinyGaRetinaNet(3)])
      expect(schemeOf(preset)).not.toHaveProperty('components');
    expect(
      schemeOf(retina({ type: 'guided', components: { shape: false, featureAdaption: false } })),
    ).toMatchObject({ components: { shape: false, featureAdaption: false } });
    const bad = (anchorScheme: unknown) => () => retina(anchorScheme);
    expect(bad({ type: 'guided', components: { shape: false } })).toThrow(
      /head\.anchorScheme\.components\.featureAdaption: feature adaption needs the shape branch/,
    );
    expect(
      bad({ type: 'meta-guided', components: { shape: false, featureAdaption: true } }),
    ).toThrow(/head\.anchorScheme\.components\.featureAdaption/);
    expect(bad({ type: 'guided', components: { location: 'off' } })).toThrow(
      /head\.anchorScheme\.components\.location/,
    );
    expect(bad({ type: 'guided', components: { adaption: false } })).toThrow(
      /head\.anchorScheme\.components.*adaption/,
    );
    expect(bad({ type: 'meta', components: { shape: false } })).toThrow(
      /head\.anchorScheme\.components/,
    );
  });

  it("sparse inference: 'auto' by default, sparseMaxKept only with 'auto'", () => {
    expect(schemeOf(retina({ type: 'guided' }))).toMatchObject({ sparseInference: 'auto' });
    expect(schemeOf(retina({ type: 'guided', sparseMaxKept: 0.3 }))).toMatchObject({
      sparseInference: 'auto',
      sparseMaxKept: 0.3,
    });
    const bad = (anchorScheme: unknown) => () => retina(anchorScheme);
    expect(bad({ type: 'guided', sparseInference: 'always', sparseMaxKept: 0.3 })).toThrow(
      /head\.anchorScheme\.sparseMaxKept: has no effect with sparseInference 'always'/,
    );
    expect(bad({ type: 'meta-guided', sparseInference: 'never', sparseMaxKept: 0.3 })).toThrow(
      /head\.anchorScheme\.sparseMaxKept/,
    );
    expect(bad({ type: 'guided', sparseMaxKept: 1.5 })).toThrow(
      /head\.anchorScheme\.sparseMaxKept/,
    );
    expect(bad({ type: 'guided', sparseInference: true })).toThrow(
      /head\.anchorScheme\.sparseInference/,
    );
  });
});
