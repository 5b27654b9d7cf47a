import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizePixels, renderSyntheticImageAt, resolveNormalization } from './browser';
import { decodeImage } from './decode-image';
import { generateSyntheticDataset } from './synthetic/generate';
import { defaultRenderOptions } from './synthetic/render';
import { normalize } from './transforms';

describe('@det/data/browser', () => {
  it('renders one synthetic image alone, bit for bit the PNG generateSyntheticDataset writes', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'det-render-at-'));
    try {
      await generateSyntheticDataset({
        outDir,
        seed: 5,
        trainImages: 1,
        valImages: 3,
        width: 48,
        height: 40,
      });
      const render = { ...defaultRenderOptions, width: 48, height: 40 };
      for (const [split, index] of [
        ['val', 2],
        ['train', 0],
      ] as const) {
        const decoded = await decodeImage(join(outDir, split, `00000${index + 1}.png`));
        const rendered = renderSyntheticImageAt(render, 5, split, index);
        expect(rendered.rgb.length).toBe(48 * 40 * 3);
        expect(Buffer.from(rendered.rgb).equals(Buffer.from(decoded.data))).toBe(true);
      }
      // Another seed or index is another image.
      const other = renderSyntheticImageAt(render, 5, 'val', 1).rgb;
      expect(
        Buffer.from(other).equals(Buffer.from(renderSyntheticImageAt(render, 5, 'val', 2).rgb)),
      ).toBe(false);
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  });

  it('normalizePixels of RGBA canvas pixels equals the normalize transform of the RGB image', async () => {
    const rgb = new Uint8Array([0, 128, 255, 10, 20, 30]);
    const rgba = new Uint8ClampedArray([0, 128, 255, 7, 10, 20, 30, 255]);
    const pytorch = resolveNormalization();
    const fromRgba = normalizePixels(rgba, pytorch, 4);
    expect(Array.from(fromRgba)).toEqual(Array.from(normalizePixels(rgb, pytorch)));
    expect(fromRgba[0]).toBeCloseTo((0 - 123.675) / 58.395, 6);
    expect(fromRgba[5]).toBeCloseTo((30 - 103.53) / 57.375, 6);
    // caffe: BGR order, unit std.
    const caffe = normalizePixels(rgb, resolveNormalization({ style: 'caffe' }));
    expect(Array.from(caffe.slice(0, 3))).toEqual(
      [255 - 103.53, 128 - 116.28, 0 - 123.675].map(Math.fround),
    );
    const sample = {
      image: { width: 2, height: 1, data: rgb },
      boxes: new Float32Array(0),
      labels: new Int32Array(0),
      ignoreBoxes: new Float32Array(0),
      meta: { imageId: 1 } as never,
    };
    const transformed = await normalize().apply(sample, undefined as never);
    expect(Array.from(transformed.image.data)).toEqual(Array.from(normalizePixels(rgb, pytorch)));
    expect(normalizePixels(new Uint8Array(0), pytorch).length).toBe(0);
    expect(() => normalizePixels(new Uint8Array(5), pytorch, 4)).toThrow(
      /5 values are not a whole number of 4-channel pixels/,
    );
  });
});
