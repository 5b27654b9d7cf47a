import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnchorLevelOutput } from './anchor-function';
import type { AnchorHead } from './anchor-head';
import { checkImageShapes } from './image-shapes';
import { disposeLevelOutputs } from './index';
import { createRetinaHead } from './retina-head';

describe('checkImageShapes', () => {
  it('accepts one [height, width] per image, including an empty batch', () => {
    expect(() => checkImageShapes([[64, 48]], 'f', 1)).not.toThrow();
    expect(() => checkImageShapes([], 'f', 0)).not.toThrow();
  });

  it('names the image, the value and the fix for { height, width }', () => {
    expect(() => checkImageShapes([{ height: 64, width: 48 }], 'f')).toThrow(
      'f: imageShapes[0] must be [height, width] (two positive numbers), got {"height":64,"width":48} — pass [64, 48], not { height, width }',
    );
    expect(() => checkImageShapes([[64, 0]], 'f')).toThrow(
      'imageShapes[0] must be [height, width]',
    );
    expect(() => checkImageShapes([64, 48], 'f')).toThrow('imageShapes[0] must be [height, width]');
    expect(() => checkImageShapes({ height: 64, width: 48 }, 'f')).toThrow(
      'f: imageShapes must be an array with one [height, width] per image',
    );
    expect(() => checkImageShapes([[64, 48]], 'f', 2)).toThrow(
      'f: 1 imageShapes for a batch of 2 images',
    );
  });
});

describe('AnchorHead at its public boundary', () => {
  let head: AnchorHead;
  let outputs: AnchorLevelOutput[];
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    head = withInitializerSeed(1, () =>
      createRetinaHead({
        store: new ParameterStore(),
        numClasses: 2,
        inChannels: 4,
        featChannels: 4,
        stackedConvs: 1,
      }),
    );
    const features = [8, 4, 2, 1, 1].map((size) => tf.zeros([1, size, size, 4]) as tf.Tensor4D);
    outputs = head.forward(features);
    tf.dispose(features);
  });
  afterAll(() => disposeLevelOutputs(outputs));

  it('predict with { height, width } says what it expected, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const objectShapes = [{ height: 64, width: 64 }] as unknown as [number, number][];
    expect(() => head.predict(outputs, objectShapes)).toThrow(
      'predict (denseDetections): imageShapes[0] must be [height, width] (two positive numbers), got {"height":64,"width":64} — pass [64, 64], not { height, width }',
    );
    expect(() =>
      head.predict(outputs, [
        [64, 64],
        [64, 64],
      ]),
    ).toThrow('2 imageShapes for a batch of 1 images');
    expect(tf.memory().numTensors).toBe(before);
    expect(head.predict(outputs, [[64, 64]])).toHaveLength(1);
  });
});
