import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createResNet, type ResNet } from './resnet';
import { fixturesDir } from './test-helpers';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Sum of squares of every output: a loss that reaches every stage. */
function gradientNorms(model: ResNet, images: tf.Tensor4D): Map<string, number> {
  const { value, grads } = tf.variableGrads(() => {
    const outputs = model.apply(images, { training: true });
    return Object.values(outputs)
      .map((feature) => tf.mean(tf.square(feature)))
      .reduce((total, term) => tf.add(total, term)) as tf.Scalar;
  });
  const norms = new Map<string, number>();
  for (const { name, variable } of model.parameters.entries()) {
    const grad = grads[variable.name];
    if (grad)
      norms.set(
        name,
        tf.tidy(() => tf.norm(grad).dataSync()[0] as number),
      );
  }
  tf.dispose([value, ...Object.values(grads)]);
  return norms;
}

describe('createResNet', () => {
  it('has torchvision resnet34 and resnet101 key names and (HWIO) shapes', () => {
    const keys = JSON.parse(
      readFileSync(join(fixturesDir, 'torchvision-resnet-keys.json'), 'utf8'),
    ) as Record<string, Array<[string, number[]]>>;
    // Built at 1/8 width to stay fast: every channel count of torchvision's shapes ÷ 8.
    const width = 0.125;
    const scaled = (name: string, channels: number) =>
      name === 'conv1.weight' && channels === 3 ? 3 : channels * width;
    for (const depth of [34, 101] as const) {
      const model = withInitializerSeed(10, () => createResNet({ depth, widthMultiplier: width }));
      const ours = model.parameters.entries().map((entry) => [entry.name, entry.variable.shape]);
      const theirs = (keys[`resnet${depth}`] ?? [])
        .filter(([name]) => !name.endsWith('num_batches_tracked') && !name.startsWith('fc.'))
        .map(([name, shape]) => {
          const [o = 0, i = 0, h = 0, w = 0] = shape;
          return [
            name,
            shape.length === 4 ? [h, w, scaled(name, i), scaled(name, o)] : [scaled(name, o)],
          ];
        });
      expect(ours).toEqual(theirs);
      model.dispose();
    }
  });

  it('returns c2–c5 at strides 4–32 with the channels of its shape spec', () => {
    const before = tf.memory().numTensors;
    const model = withInitializerSeed(11, () =>
      createResNet({ depth: 50, widthMultiplier: 0.125 }),
    );
    expect(model.outputShapes).toEqual({
      c2: { channels: 32, stride: 4 },
      c3: { channels: 64, stride: 8 },
      c4: { channels: 128, stride: 16 },
      c5: { channels: 256, stride: 32 },
    });
    const images = tf.zeros([2, 64, 96, 3]) as tf.Tensor4D;
    const outputs = model.apply(images);
    expect(outputs.c2.shape).toEqual([2, 16, 24, 32]);
    expect(outputs.c3.shape).toEqual([2, 8, 12, 64]);
    expect(outputs.c4.shape).toEqual([2, 4, 6, 128]);
    expect(outputs.c5.shape).toEqual([2, 2, 3, 256]);
    tf.dispose([images, ...Object.values(outputs)]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('handles an empty batch', () => {
    const model = withInitializerSeed(12, () =>
      createResNet({ depth: 18, widthMultiplier: 0.125 }),
    );
    const images = tf.zeros([0, 32, 32, 3]) as tf.Tensor4D;
    const outputs = model.apply(images);
    expect(outputs.c5.shape).toEqual([0, 1, 1, 64]);
    tf.dispose([images, ...Object.values(outputs)]);
    model.dispose();
  });

  it('freezes the stem and layer1 by default; gradients reach unfrozen stages only', () => {
    const model = withInitializerSeed(13, () =>
      createResNet({ depth: 18, widthMultiplier: 0.125 }),
    );
    const trainable = model.parameters
      .entries()
      .filter((entry) => entry.variable.trainable)
      .map((entry) => entry.name);
    expect(trainable.some((name) => /^(conv1|bn1|layer1)\./.test(name))).toBe(false);
    // Frozen BN (torchvision's FrozenBatchNorm2d): only conv filters train.
    expect(trainable.every((name) => /conv\d\.weight$|downsample\.0\.weight$/.test(name))).toBe(
      true,
    );
    expect(trainable).toContain('layer2.0.conv1.weight');
    expect(trainable).toContain('layer4.1.conv2.weight');
    const images = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 106) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const norms = gradientNorms(model, images);
    expect([...norms.keys()].sort()).toEqual([...trainable].sort());
    for (const [name, norm] of norms) expect(norm, name).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });

  it('trains everything with frozenStages −1 (max-pool and stem gradients on wasm)', () => {
    const model = withInitializerSeed(14, () =>
      createResNet({
        depth: 50,
        widthMultiplier: 0.0625,
        frozenStages: -1,
        trainableNormAffine: true,
      }),
    );
    const images = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 107) as tf.Tensor4D;
    const norms = gradientNorms(model, images);
    const statistics = model.parameters
      .entries()
      .filter((entry) => /running_(mean|var)$/.test(entry.name));
    expect(statistics.every((entry) => !entry.variable.trainable)).toBe(true);
    expect(norms.size).toBe(model.parameters.entries().length - statistics.length);
    expect(norms.get('conv1.weight')).toBeGreaterThan(0);
    expect(norms.get('bn1.weight')).toBeGreaterThan(0);
    expect(norms.get('layer1.0.downsample.0.weight')).toBeGreaterThan(0);
    images.dispose();
    model.dispose();
  });

  it('freezes all four stages with frozenStages 4 and names parameters inside a scope', () => {
    const root = new ParameterStore();
    const model = withInitializerSeed(15, () =>
      createResNet({
        depth: 18,
        widthMultiplier: 0.125,
        frozenStages: 4,
        store: root.scope('backbone.body'),
      }),
    );
    expect(root.trainableVariables()).toEqual([]);
    expect(root.has('backbone.body.layer1.0.conv1.weight')).toBe(true);
    expect(root.has('backbone.body.layer2.0.downsample.1.running_var')).toBe(true);
    model.dispose();
  });

  it('zeroInitResidual zeroes the last BN γ of each block (torchvision zero_init_residual)', () => {
    const model = withInitializerSeed(16, () =>
      createResNet({ depth: 50, widthMultiplier: 0.0625, zeroInitResidual: true }),
    );
    expect(Array.from(model.parameters.get('layer3.2.bn3.weight').dataSync())).toEqual(
      new Array(64).fill(0),
    );
    expect(Array.from(model.parameters.get('layer3.2.bn2.weight').dataSync())).toEqual(
      new Array(16).fill(1),
    );
    model.dispose();
  });

  it('rejects bad options and inputs with clear errors', () => {
    expect(() => createResNet({ depth: 20 as 18 })).toThrow(
      'ResNet depth 20 is not one of 18, 34, 50, 101',
    );
    expect(() => createResNet({ depth: 18, widthMultiplier: 0.3 })).toThrow(
      'ResNet widthMultiplier 0.3 must make 64·w a positive integer (got 19.2)',
    );
    expect(() => createResNet({ depth: 18, frozenStages: 5 })).toThrow(
      'ResNet frozenStages 5 must be an integer from -1 to 4',
    );
    expect(() => createResNet({ depth: 50, style: 'tf' as 'caffe' })).toThrow(
      "ResNet style 'tf' is not 'pytorch' or 'caffe'",
    );
    const model = withInitializerSeed(17, () =>
      createResNet({ depth: 18, widthMultiplier: 0.125 }),
    );
    const gray = tf.zeros([1, 32, 32, 1]) as tf.Tensor4D;
    expect(() => model.apply(gray)).toThrow(
      'ResNet expects NHWC images with 3 channels, got shape [1, 32, 32, 1]',
    );
    gray.dispose();
    model.dispose();
  });
});
