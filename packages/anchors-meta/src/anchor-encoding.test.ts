import { AnchorGenerator, metaAnchorOptions, mulberry32 } from '@det/core';
import { describe, expect, it } from 'vitest';
import {
  anchorCodes,
  decodeAnchorCode,
  encodeAnchorBox,
  scaleRatioToSize,
  standardBoxAtLevel,
} from './anchor-encoding';
import { jitterAnchorCodes, resolveAnchorSet } from './anchor-set';
import { metaAnchorPreset, metaAnchorPresets, presetAnchors } from './presets';

describe('anchor box encoding (eq. 7)', () => {
  it('encodes b = (log(ah/AH), log(aw/AW)) and decodes back', () => {
    const code = encodeAnchorBox({ height: 88, width: 22 }, [44, 44]);
    expect(code[0]).toBeCloseTo(Math.log(2), 12);
    expect(code[1]).toBeCloseTo(Math.log(0.5), 12);
    const size = decodeAnchorCode(code, [44, 44]);
    expect(size.height).toBeCloseTo(88, 10);
    expect(size.width).toBeCloseTo(22, 10);
    // The standard box of a level doubles per FPN level (§3.2): same b, twice the anchor.
    expect(standardBoxAtLevel([45, 47], 4)).toEqual([180, 188]);
    expect(decodeAnchorCode(code, standardBoxAtLevel([44, 44], 2)).height).toBeCloseTo(176, 10);
  });

  it('accepts sizes, (scale, ratio) pairs and codes, and names a bad entry', () => {
    const codes = anchorCodes(
      [{ height: 44, width: 44 }, { scale: 1, ratio: 1 }, { code: [0.25, -0.5] }],
      { standardBox: [44, 44], baseSize: 32 },
    );
    expect(codes[0]).toEqual([0, 0]);
    expect(codes[1]![0]).toBeCloseTo(Math.log(32 / 44), 12);
    expect(codes[2]).toEqual([0.25, -0.5]);
    expect(anchorCodes([], { standardBox: [44, 44] })).toEqual([]);
    expect(() =>
      anchorCodes(
        [
          { height: 10, width: 10 },
          { height: -1, width: 3 },
        ],
        { standardBox: [44, 44] },
      ),
    ).toThrow(/anchors\[1\].*anchor height must be a finite number > 0, got -1/);
    expect(() => anchorCodes([{ code: [0, Number.NaN] }], { standardBox: [44, 44] })).toThrow(
      /anchors\[0\]/,
    );
    expect(() => anchorCodes([], { standardBox: [0, 44] })).toThrow(/standardBox\[0\] \(AH\)/);
    expect(() => resolveAnchorSet('4x4' as '3x3', { standardBox: [44, 44] })).toThrow(
      /unknown preset "4x4"/,
    );
  });

  it('scale/ratio sizes equal the base anchors of mmdetection-semantics AnchorGenerator', () => {
    for (const name of ['3x3', '9x9'] as const) {
      const n = Number(name[0]) as 3 | 9;
      const generator = new AnchorGenerator(metaAnchorOptions(n));
      const base = generator.baseAnchors[0]!;
      const sizes = presetAnchors(name).map((pair) => scaleRatioToSize(pair, 32));
      expect(sizes).toHaveLength(n * n);
      sizes.forEach(({ height, width }, a) => {
        expect(base[a * 4 + 2]! - base[a * 4]!).toBeCloseTo(width, 3);
        expect(base[a * 4 + 3]! - base[a * 4 + 1]!).toBeCloseTo(height, 3);
      });
    }
  });
});

describe('Table 1 presets', () => {
  it('has n×n anchors with the paper scales, ratios and standard boxes', () => {
    const expected = { '3x3': [44, 44], '5x5': [45, 47], '7x7': [48, 50], '9x9': [55, 55] };
    for (const [name, box] of Object.entries(expected)) {
      const preset = metaAnchorPreset(name as '3x3');
      const n = Number(name[0]);
      expect(preset.standardBox).toEqual(box);
      expect(preset.scales).toHaveLength(n);
      expect(preset.ratios).toHaveLength(n);
      expect(preset.scales[1]).toBeCloseTo(2 ** (1 / n), 12);
      expect(presetAnchors(name as '3x3')).toHaveLength(n * n);
    }
    expect(metaAnchorPresets['9x9'].ratios).toEqual([1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5]);
    // Ratio-major, scales fastest: mmdetection's scale_major order.
    expect(presetAnchors('3x3').slice(0, 4)).toEqual([
      { scale: 1, ratio: 0.5 },
      { scale: 2 ** (1 / 3), ratio: 0.5 },
      { scale: 2 ** (2 / 3), ratio: 0.5 },
      { scale: 1, ratio: 1 },
    ]);
  });
});

describe('training jitter (§4)', () => {
  it('moves every b within ±0.5, reproducibly by seed', () => {
    const codes = resolveAnchorSet('9x9', { standardBox: [55, 55] });
    const first = jitterAnchorCodes(codes, { range: 0.5, random: mulberry32(7) });
    const again = jitterAnchorCodes(codes, { range: 0.5, random: mulberry32(7) });
    const other = jitterAnchorCodes(codes, { range: 0.5, random: mulberry32(8) });
    expect(first).toEqual(again);
    expect(first).not.toEqual(other);
    let maxShift = 0;
    first.forEach((code, i) => {
      for (const d of [0, 1] as const) {
        const shift = Math.abs(code[d] - codes[i]![d]);
        expect(shift).toBeLessThanOrEqual(0.5);
        maxShift = Math.max(maxShift, shift);
      }
    });
    // 162 uniform draws: the largest shift is close to the bound, not a degenerate jitter.
    expect(maxShift).toBeGreaterThan(0.45);
    expect(jitterAnchorCodes(codes, { range: 0, random: mulberry32(1) })).toEqual(codes);
    expect(() => jitterAnchorCodes(codes, { range: -1, random: Math.random })).toThrow(/range/);
  });
});
