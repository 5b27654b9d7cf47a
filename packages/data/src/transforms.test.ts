import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  boxesToInput,
  boxesToOriginal,
  boxesToOriginalTensor,
  flipBoxes,
  initialImageMeta,
} from './image-meta';
import { createRandom } from './random';
import {
  applyTransforms,
  boxesInRange,
  dropBoxesInRange,
  flipSample,
  keepRatioSize,
  metaAnchorDropRange,
  normalize,
  padToDivisor,
  randomHorizontalFlip,
  randomResize,
  resize,
  type Sample,
} from './transforms';

beforeAll(async () => {
  await initBackend();
});

function makeSample(width: number, height: number, boxes: number[], ignore: number[] = []): Sample {
  const data = new Uint8Array(width * height * 3);
  for (let index = 0; index < data.length; index++) data[index] = (index * 37) % 251;
  return {
    image: { data, width, height },
    boxes: Float32Array.from(boxes),
    labels: Int32Array.from({ length: boxes.length / 4 }, (_, index) => index),
    ignoreBoxes: Float32Array.from(ignore),
    meta: initialImageMeta(1, 'x.png', width, height),
  };
}

const boxes = [0, 0, 10, 10, 3.5, 7.25, 60, 40, 12, 1, 13, 39];

describe('keepRatioSize', () => {
  it('follows mmcv rescale_size (short ≤ shortSide, long ≤ longSide)', () => {
    expect(keepRatioSize(640, 480, { shortSide: 800, longSide: 1333 })).toEqual({
      width: 1067,
      height: 800,
    });
    expect(keepRatioSize(2000, 500, { shortSide: 800, longSide: 1333 })).toEqual({
      width: 1333,
      height: 333,
    });
    expect(keepRatioSize(320, 320, { shortSide: 600, longSide: 1000 })).toEqual({
      width: 600,
      height: 600,
    });
  });
});

describe('transforms keep boxes and meta consistent', () => {
  it('resize → flip → normalize → pad, then back to the original, restores every box', async () => {
    const sample = makeSample(64, 48, boxes, [1, 1, 5, 5]);
    const transforms = [
      resize({ shortSide: 600, longSide: 1000 }),
      randomHorizontalFlip({ probability: 1 }),
      normalize(),
      padToDivisor({ divisor: 32 }),
    ];
    const out = await applyTransforms(sample, transforms, createRandom(0));
    expect([out.image.width, out.image.height]).toEqual([800, 608]);
    expect(out.meta).toMatchObject({
      width: 800,
      height: 600,
      flipped: true,
      paddedWidth: 800,
      paddedHeight: 608,
    });
    expect(out.meta.scaleX).toBeCloseTo(800 / 64, 10);
    expect(out.image.data).toBeInstanceOf(Float32Array);
    const back = boxesToOriginal(out.boxes, out.meta);
    boxes.forEach((value, index) => {
      expect(back[index]).toBeCloseTo(value, 4);
    });
    const backIgnore = boxesToOriginal(out.ignoreBoxes, out.meta);
    expect(Array.from(backIgnore)).toEqual([1, 1, 5, 5].map((value) => expect.closeTo(value, 4)));
    // boxesToInput is the forward map the transforms applied.
    const forward = boxesToInput(sample.boxes, out.meta);
    forward.forEach((value, index) => {
      expect(value).toBeCloseTo(out.boxes[index]!, 3);
    });
  });

  it('maps back through multi-scale resize with non-uniform rounding', async () => {
    const sample = makeSample(97, 61, boxes);
    for (let seed = 0; seed < 5; seed++) {
      const out = await applyTransforms(
        sample,
        [
          randomResize({
            scales: [
              { shortSide: 480, longSide: 1333 },
              { shortSide: 960, longSide: 1333 },
            ],
            mode: 'range',
          }),
          randomHorizontalFlip(),
        ],
        createRandom(seed),
      );
      expect(out.meta.scaleX).toBeCloseTo(out.meta.width / 97, 12);
      expect(out.meta.scaleY).toBeCloseTo(out.meta.height / 61, 12);
      expect(Math.min(out.meta.width, out.meta.height)).toBeGreaterThanOrEqual(479);
      const back = boxesToOriginal(out.boxes, out.meta, { clip: false });
      boxes.forEach((value, index) => {
        expect(back[index]).toBeCloseTo(value, 3);
      });
    }
  });

  it('flipping twice is the identity for image, boxes and meta', () => {
    const sample = makeSample(7, 5, boxes, [0, 1, 2, 3]);
    const twice = flipSample(flipSample(sample));
    expect(Array.from(twice.image.data)).toEqual(Array.from(sample.image.data));
    expect(Array.from(twice.boxes)).toEqual(Array.from(sample.boxes));
    expect(Array.from(twice.ignoreBoxes)).toEqual(Array.from(sample.ignoreBoxes));
    expect(twice.meta.flipped).toBe(false);
    const once = flipSample(sample);
    // The first pixel of row 0 moves to the last column.
    expect(Array.from(once.image.data.subarray(18, 21))).toEqual(
      Array.from(sample.image.data.subarray(0, 3)),
    );
    expect(Array.from(flipBoxes(Float32Array.from([1, 2, 3, 4]), 7))).toEqual([4, 2, 6, 4]);
  });

  it('normalizes with torchvision ImageNet statistics, or caffe-style BGR mean', async () => {
    const sample = makeSample(1, 1, []);
    sample.image.data.set([10, 20, 30]);
    const pytorch = await normalize().apply(sample, createRandom(0));
    expect(Array.from(pytorch.image.data)).toEqual(
      [(10 - 123.675) / 58.395, (20 - 116.28) / 57.12, (30 - 103.53) / 57.375].map((value) =>
        expect.closeTo(value, 5),
      ),
    );
    const caffe = await normalize({ style: 'caffe' }).apply(sample, createRandom(0));
    expect(Array.from(caffe.image.data)).toEqual(
      [30 - 103.53, 20 - 116.28, 10 - 123.675].map((value) => expect.closeTo(value, 4)),
    );
    expect(() => normalize({ mean: [1, 2, 3] })).toThrow(/both mean and std/);
  });

  it('pads with zeros at the right and bottom', async () => {
    const sample = makeSample(3, 2, [0, 0, 1, 1]);
    const out = await padToDivisor({ divisor: 4 }).apply(sample, createRandom(0));
    expect([out.image.width, out.image.height]).toEqual([4, 4]);
    expect(Array.from(out.image.data.subarray(0, 9))).toEqual(
      Array.from(sample.image.data.subarray(0, 9)),
    );
    expect(Array.from(out.image.data.subarray(9, 12))).toEqual([0, 0, 0]);
    expect(Array.from(out.image.data.subarray(24))).toEqual(new Array(24).fill(0));
    expect(Array.from(out.boxes)).toEqual([0, 0, 1, 1]);
  });

  it('handles images without boxes', async () => {
    const out = await applyTransforms(
      makeSample(10, 10, []),
      [resize({ shortSide: 20, longSide: 20 }), randomHorizontalFlip({ probability: 1 })],
      createRandom(1),
    );
    expect(out.boxes.length).toBe(0);
    expect(boxesToOriginal(out.boxes, out.meta).length).toBe(0);
  });

  it('refuses to resize a normalised image', async () => {
    const normalised = await normalize().apply(makeSample(4, 4, []), createRandom(0));
    await expect(
      resize({ shortSide: 8, longSide: 8 }).apply(normalised, createRandom(0)),
    ).rejects.toThrow(/before normalize/);
  });
});

describe('boxesToOriginalTensor', () => {
  it('matches the typed-array mapping and leaks nothing', async () => {
    const out = await applyTransforms(
      makeSample(50, 40, boxes),
      [resize({ shortSide: 100, longSide: 300 }), randomHorizontalFlip({ probability: 1 })],
      createRandom(0),
    );
    const before = tf.memory().numTensors;
    const input = tf.tensor2d(out.boxes, [out.boxes.length / 4, 4]);
    const mapped = boxesToOriginalTensor(input, out.meta);
    const expected = boxesToOriginal(out.boxes, out.meta);
    Array.from(await mapped.data()).forEach((value, index) => {
      expect(value).toBeCloseTo(expected[index]!, 4);
    });
    tf.dispose([input, mapped]);
    const empty = tf.zeros([0, 4]) as tf.Tensor2D;
    const mappedEmpty = boxesToOriginalTensor(empty, out.meta);
    expect(mappedEmpty.shape).toEqual([0, 4]);
    tf.dispose([empty, mappedEmpty]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('dropBoxesInRange (MetaAnchor Table 4)', () => {
  it('moves boxes with 50 < √(wh) < 100 and −1 < ln(w/h) < 1 to the ignore regions', async () => {
    // √(wh): 70 (in), 70 with ratio e^1.2 (out), 40 (out), 120 (out), exactly 50 (out).
    const wide = 70 * Math.exp(0.6);
    const tall = 70 / Math.exp(0.6);
    const input = [0, 0, 70, 70, 0, 0, wide, tall, 0, 0, 40, 40, 0, 0, 120, 120, 0, 0, 50, 50];
    expect(boxesInRange(Float32Array.from(input), metaAnchorDropRange)).toEqual([
      true,
      false,
      false,
      false,
      false,
    ]);
    const sample = makeSample(200, 200, input, [1, 1, 2, 2]);
    const out = await dropBoxesInRange().apply(sample, createRandom(0));
    expect(Array.from(out.labels)).toEqual([1, 2, 3, 4]);
    expect(Array.from(out.boxes)).toEqual(Array.from(Float32Array.from(input.slice(4))));
    expect(Array.from(out.ignoreBoxes)).toEqual([1, 1, 2, 2, 0, 0, 70, 70]);
  });
});
