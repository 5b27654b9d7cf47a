import { describe, expect, it } from 'vitest';
import { createRandom } from '../random';
import { defaultRenderOptions, type RenderOptions, renderSyntheticImage } from './render';

const options: RenderOptions = { ...defaultRenderOptions, width: 320, height: 320 };

describe('renderSyntheticImage', () => {
  it('is deterministic for a seed', () => {
    const a = renderSyntheticImage(options, createRandom(11));
    const b = renderSyntheticImage(options, createRandom(11));
    expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
    expect(a.objects).toEqual(b.objects);
  });

  it('annotates the tight box and pixel area of every visible object', () => {
    for (let seed = 0; seed < 20; seed++) {
      const image = renderSyntheticImage(options, createRandom(seed));
      // Recompute each owner's pixel extent independently of the renderer's bookkeeping.
      const extents = image.objects.map(() => ({
        x0: Infinity,
        y0: Infinity,
        x1: -1,
        y1: -1,
        area: 0,
      }));
      for (let y = 0; y < image.height; y++) {
        for (let x = 0; x < image.width; x++) {
          const id = image.owner[y * image.width + x]!;
          if (id < 0) continue;
          const extent = extents[id]!;
          extent.x0 = Math.min(extent.x0, x);
          extent.y0 = Math.min(extent.y0, y);
          extent.x1 = Math.max(extent.x1, x + 1);
          extent.y1 = Math.max(extent.y1, y + 1);
          extent.area++;
        }
      }
      image.objects.forEach((object, id) => {
        const extent = extents[id]!;
        expect(object.box).toEqual([extent.x0, extent.y0, extent.x1, extent.y1]);
        expect(object.area).toBe(extent.area);
        expect(object.area).toBeGreaterThan(0);
      });
    }
  });

  it('spans scales from ≈8 px to most of the image, ratios 1:8-8:1, empty and crowd images', () => {
    const scales: number[] = [];
    const logRatios: number[] = [];
    let empty = 0;
    let crowd = 0;
    const visibleFractions: number[] = [];
    for (let seed = 0; seed < 300; seed++) {
      const image = renderSyntheticImage(options, createRandom(seed));
      if (image.objects.length === 0) empty++;
      for (const object of image.objects) {
        if (object.iscrowd) {
          crowd++;
          continue;
        }
        const [x0, y0, x1, y1] = object.box;
        scales.push(Math.sqrt((x1 - x0) * (y1 - y0)));
        logRatios.push(Math.log((x1 - x0) / (y1 - y0)));
        visibleFractions.push(object.area / ((x1 - x0) * (y1 - y0)));
      }
    }
    expect(Math.min(...scales)).toBeLessThan(10);
    expect(Math.max(...scales)).toBeGreaterThan(200);
    expect(Math.min(...logRatios)).toBeLessThan(Math.log(1 / 6));
    expect(Math.max(...logRatios)).toBeGreaterThan(Math.log(6));
    expect(Math.max(...logRatios)).toBeLessThan(Math.log(8.5));
    expect(empty).toBeGreaterThan(3);
    expect(crowd).toBeGreaterThan(5);
    const small = scales.filter((scale) => scale < 32).length / scales.length;
    const large = scales.filter((scale) => scale > 96).length / scales.length;
    expect(small).toBeGreaterThan(0.15);
    expect(large).toBeGreaterThan(0.1);
  });
});
