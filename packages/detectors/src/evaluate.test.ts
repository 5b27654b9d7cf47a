import { initialImageMeta } from '@det/data';
import { describe, expect, it } from 'vitest';
import { evaluateCoco, toCocoResults } from './evaluate';

const groundTruth = {
  images: [{ id: 7, width: 200, height: 100, file_name: 'a.png' }],
  categories: [
    { id: 1, name: 'a' },
    { id: 3, name: 'b' },
  ],
  annotations: [
    { id: 1, image_id: 7, category_id: 3, bbox: [20, 10, 60, 40], area: 2400, iscrowd: 0 },
    { id: 2, image_id: 7, category_id: 1, bbox: [100, 50, 50, 40], area: 2000, iscrowd: 0 },
  ],
};

describe('COCO results and evaluation', () => {
  it('maps input-pixel detections back to original xywh and category ids', () => {
    // The image was resized ×0.5 and flipped: input is 100×50.
    const meta = {
      ...initialImageMeta(7, 'a.png', 200, 100),
      width: 100,
      height: 50,
      scaleX: 0.5,
      scaleY: 0.5,
      flipped: true,
    };
    const [result] = toCocoResults(
      {
        boxes: new Float32Array([60, 5, 90, 25]),
        scores: new Float32Array([0.9]),
        labels: new Int32Array([1]),
      },
      meta,
      [1, 3],
    );
    // Unflip: x ∈ [100 − 90, 100 − 60] = [10, 40]; unscale ×2.
    expect(result).toEqual({
      image_id: 7,
      category_id: 3,
      bbox: [20, 10, 60, 40],
      score: Math.fround(0.9),
    });
  });

  it('scores perfect detections 1 and proposal mode pools categories', () => {
    const perfect = groundTruth.annotations.map((a) => ({
      image_id: 7,
      category_id: a.category_id,
      bbox: a.bbox,
      score: 0.9,
    }));
    expect(evaluateCoco(groundTruth, perfect).stats[1]).toBeCloseTo(1, 12);
    // Wrong categories: 0 AP, but class-agnostic proposal recall is perfect.
    const swapped = perfect.map((r) => ({ ...r, category_id: r.category_id === 1 ? 3 : 1 }));
    expect(evaluateCoco(groundTruth, swapped).stats[1]).toBe(0);
    const proposals = evaluateCoco(groundTruth, swapped, { proposals: true });
    expect(proposals.summary.lines.some((line) => line.includes('maxDets=1000'))).toBe(true);
    expect(proposals.stats[8]).toBeCloseTo(1, 12);
  });
});
