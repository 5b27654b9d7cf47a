import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import type { Size2D } from '../types/box-format';
import { AnchorGenerator, type AnchorGeneratorOptions } from './anchor-generator';
import { metaAnchorOptions, retinanetAnchorOptions, rpnAnchorOptions } from './anchor-presets';

interface AnchorCase {
  name: string;
  options: AnchorGeneratorOptions;
  featmapSizes: [number, number][];
  priors: number[][];
}
const fixture = JSON.parse(
  readFileSync(
    new URL('../__fixtures__/primitives/anchor-generator.json', import.meta.url),
    'utf8',
  ),
) as { cases: AnchorCase[] };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('AnchorGenerator against mmdetection’s formula', () => {
  for (const c of fixture.cases) {
    it(`equals mmdetection's grid priors bit for bit (${c.name})`, () => {
      const before = tf.memory().numTensors;
      const generator = new AnchorGenerator(c.options);
      const priors = generator.gridPriors(c.featmapSizes);
      priors.forEach((level, l) => {
        const [h, w] = c.featmapSizes[l]!;
        expect(level.shape).toEqual([h * w * generator.numBasePriors[l]!, 4]);
        expect(Array.from(level.dataSync())).toEqual(c.priors[l]);
      });
      tf.dispose(priors);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('reproduces mmdetection’s docstring example (stride 16, base size 9, 2 × 2 grid)', () => {
    const generator = new AnchorGenerator({
      strides: [16, 32],
      ratios: [1],
      scales: [1],
      baseSizes: [9, 18],
    });
    const [p0, p1] = generator.gridPriors([
      [2, 2],
      [1, 1],
    ]);
    expect(Array.from(p0!.dataSync())).toEqual([
      -4.5, -4.5, 4.5, 4.5, 11.5, -4.5, 20.5, 4.5, -4.5, 11.5, 4.5, 20.5, 11.5, 11.5, 20.5, 20.5,
    ]);
    expect(Array.from(p1!.dataSync())).toEqual([-9, -9, 9, 9]);
  });

  it('uses (w, h) strides and the (H, W, A) order', () => {
    // mmdetection's test_strides: stride (10, 20), base size 10.
    const generator = new AnchorGenerator({
      strides: [[10, 20]],
      ratios: [1],
      scales: [1],
      baseSizes: [10],
    });
    const [priors] = generator.gridPriors([[2, 2]]);
    expect(Array.from(priors!.dataSync())).toEqual([
      -5, -5, 5, 5, 5, -5, 15, 5, -5, 15, 5, 25, 5, 15, 15, 25,
    ]);
  });

  it('gives empty levels for a zero-sized feature map', () => {
    const generator = new AnchorGenerator(retinanetAnchorOptions);
    const sizes: Size2D[] = [
      [0, 3],
      [2, 0],
      [1, 1],
      [1, 1],
      [1, 1],
    ];
    const priors = generator.gridPriors(sizes);
    expect(priors.map((p) => p.shape)).toEqual([
      [0, 4],
      [0, 4],
      [9, 4],
      [9, 4],
      [9, 4],
    ]);
    const flags = generator.validFlags(sizes, [8, 8]);
    expect(flags.map((f) => f.shape)).toEqual([[0], [0], [9], [9], [9]]);
  });
});

describe('AnchorGenerator presets and valid flags', () => {
  it('RetinaNet: 9 priors of 32·2^(k/3) on P3–P7; RPN: 3 priors of 8 × stride', () => {
    const retina = new AnchorGenerator(retinanetAnchorOptions);
    expect(retina.numBasePriors).toEqual([9, 9, 9, 9, 9]);
    expect(retina.scales.map((s) => s * 8)).toEqual(
      [0, 1, 2].map((k) => Math.fround(Math.fround(2 ** (k / 3)) * 4) * 8),
    );
    const rpn = new AnchorGenerator(rpnAnchorOptions);
    expect(rpn.numBasePriors).toEqual([3, 3, 3, 3, 3]);
    // The ratio-1 anchor of P2 is 8·4 = 32 wide.
    const square = rpn.baseAnchors[0]!.subarray(4, 8);
    expect(square[2]! - square[0]!).toBe(32);
  });

  it('expresses MetaAnchor Table 1 (3×3 … 9×9), with 3×3 equal to RetinaNet', () => {
    for (const n of [3, 5, 7, 9] as const) {
      expect(new AnchorGenerator(metaAnchorOptions(n)).numBasePriors).toEqual([
        n * n,
        n * n,
        n * n,
        n * n,
        n * n,
      ]);
    }
    const meta3 = new AnchorGenerator(metaAnchorOptions(3));
    const retina = new AnchorGenerator(retinanetAnchorOptions);
    expect(meta3.baseAnchors.map((a) => Array.from(a))).toEqual(
      retina.baseAnchors.map((a) => Array.from(a)),
    );
  });

  it('counts the valid locations mmdetection’s tests expect', () => {
    const generator = new AnchorGenerator(retinanetAnchorOptions);
    const count = (sizes: Size2D[], pad: Size2D) => {
      const flags = generator.validFlags(sizes, pad);
      const sums = flags.map((f) => tf.sum(tf.cast(f, 'int32')).dataSync()[0]);
      tf.dispose(flags);
      return sums;
    };
    // tests/test_models/test_dense_heads/test_anchor_head.py (retina and guided anchoring heads).
    const sizes640: Size2D[] = [
      [80, 80],
      [40, 40],
      [20, 20],
      [10, 10],
      [5, 5],
    ];
    expect(count(sizes640, [640, 640])).toEqual([57600, 14400, 3600, 900, 225]);
    const sizes1216: Size2D[] = [
      [100, 152],
      [50, 76],
      [25, 38],
      [13, 19],
      [7, 10],
    ];
    expect(count(sizes1216, [800, 1216])).toEqual([136800, 34200, 8550, 2223, 630]);
  });

  it('marks the padded cells invalid in (H, W, A) order', () => {
    const generator = new AnchorGenerator({ strides: [10], ratios: [1, 2], scales: [1] });
    const [flags] = generator.validFlags([[2, 3]], [10, 15]);
    // valid rows: ceil(10/10) = 1, valid columns: ceil(15/10) = 2.
    expect(Array.from(flags!.dataSync())).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('rejects bad options with the field name', () => {
    expect(() => new AnchorGenerator({ strides: [8], ratios: [1] })).toThrow(
      /either scales or octaveBaseScale/,
    );
    expect(() => new AnchorGenerator({ strides: [8], ratios: [0], scales: [1] })).toThrow(
      /ratios must be/,
    );
    expect(
      () => new AnchorGenerator({ strides: [8, 16], ratios: [1], scales: [1], baseSizes: [4] }),
    ).toThrow(/baseSizes has 1 entries but strides has 2/);
    const generator = new AnchorGenerator(rpnAnchorOptions);
    expect(() => generator.gridPriors([[1, 1]])).toThrow(/got 1 feature map sizes for 5 levels/);
  });
});
