import { initBackend, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createResNetFpn, tinyResNetFpnPreset } from './resnet-fpn';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('createResNetFpn', () => {
  it('names parameters as torchvision BackboneWithFPN and chains the shapes (ResNet-50, P2–P6)', () => {
    const model = withInitializerSeed(20, () =>
      createResNetFpn({
        resnet: { depth: 50, widthMultiplier: 0.0625 },
        fpn: { levels: 'p2-p6', outChannels: 32 },
      }),
    );
    expect(model.parameters.has('body.layer4.2.conv3.weight')).toBe(true);
    expect(model.parameters.get('fpn.inner_blocks.0.0.weight').shape).toEqual([1, 1, 16, 32]);
    expect(model.parameters.get('fpn.inner_blocks.3.0.weight').shape).toEqual([1, 1, 128, 32]);
    const images = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const outputs = model.apply(images);
    expect(outputs.p2.shape).toEqual([1, 16, 16, 32]);
    expect(outputs.p6.shape).toEqual([1, 1, 1, 32]);
    tf.dispose(Object.values(outputs));
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });

  it('the tiny preset: 16–128-channel ResNet-18, 64-channel P3–P7, everything trains', () => {
    const model = withInitializerSeed(21, () => createResNetFpn(tinyResNetFpnPreset));
    expect(model.outputShapes.p3).toEqual({ channels: 64, stride: 8 });
    expect(model.outputShapes.p7).toEqual({ channels: 64, stride: 128 });
    expect(model.body.outputShapes.c5.channels).toBe(128);
    const parameters = model.parameters.count();
    expect(parameters).toBeGreaterThan(700_000);
    expect(parameters).toBeLessThan(1_100_000);
    const images = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 105) as tf.Tensor4D;
    const { value, grads } = tf.variableGrads(
      () =>
        Object.values(model.apply(images, { training: true }))
          .map((level) => tf.mean(tf.square(level)))
          .reduce((total, term) => tf.add(total, term)) as tf.Scalar,
    );
    expect(Object.keys(grads).length).toBe(model.parameters.trainableVariables().length);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    tf.dispose([value, images, ...Object.values(grads)]);
    model.dispose();
  });
});
