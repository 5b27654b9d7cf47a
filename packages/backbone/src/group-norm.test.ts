import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import { expectClose } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GroupNorm2d } from './group-norm';
import { createResNet } from './resnet';
import { parseSafetensors } from './safetensors';
import { fixturesDir } from './test-helpers';

/** float32 on wasm against torch in float64 (outputs of order 1, gradients of order 10). */
const tolerance = { atol: 1e-5, rtol: 1e-4 };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('GroupNorm2d', () => {
  it('equals torch.nn.GroupNorm (output and gradients) and leaks no tensors', () => {
    // scripts/fixtures/backbone_torchvision.py small: GroupNorm(3, 6), random affine, float64.
    const read = (name: string) =>
      parseSafetensors(readFileSync(join(fixturesDir, name)), name).tensors;
    const io = read('group-norm.io.safetensors');
    const parameters = read('group-norm.safetensors');
    const nhwc = (name: string) =>
      tf.tidy(() => {
        const t = io.get(name)!;
        const nchw = tf.tensor4d(
          t.values as Float32Array,
          t.shape as [number, number, number, number],
        );
        return tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D;
      });
    const store = new ParameterStore();
    const norm = new GroupNorm2d(store, { channels: 6, groups: 3 });
    norm.weight.assign(tf.tensor1d(parameters.get('weight')!.values as Float32Array));
    norm.bias.assign(tf.tensor1d(parameters.get('bias')!.values as Float32Array));
    const input = nhwc('input');
    const upstream = nhwc('upstream');
    const expected = { output: nhwc('output'), gradInput: nhwc('grad_input') };
    const before = tf.memory().numTensors;
    const output = norm.apply(input);
    expectClose(output, expected.output, { ...tolerance, label: 'output' });
    const objective = (x: tf.Tensor) =>
      tf.sum(tf.mul(norm.apply(x as tf.Tensor4D), upstream)) as tf.Scalar;
    const gradInput = tf.grad(objective)(input);
    expectClose(gradInput, expected.gradInput, { ...tolerance, label: 'grad input' });
    const { value, grads } = tf.variableGrads(() => objective(input), [norm.weight, norm.bias]);
    expectClose(grads[norm.weight.name]!, io.get('grad_weight')!.values, {
      ...tolerance,
      label: 'grad weight',
    });
    expectClose(grads[norm.bias.name]!, io.get('grad_bias')!.values, {
      ...tolerance,
      label: 'grad bias',
    });
    tf.dispose([output, gradInput, value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([input, upstream, expected.output, expected.gradInput]);
    store.dispose();
  });

  it('rejects a group count that does not divide the channels', () => {
    expect(() => new GroupNorm2d(new ParameterStore(), { channels: 6, groups: 4 })).toThrow(
      /groups 4 must be a positive divisor of channels 6/,
    );
  });
});

describe("ResNet norm: 'group'", () => {
  it('has GN weight/bias (no running stats) and gradients reach them', () => {
    const model = withInitializerSeed(1, () =>
      createResNet({ depth: 18, widthMultiplier: 0.25, norm: 'group', normGroups: 8 }),
    );
    const names = model.parameters.entries().map((entry) => entry.name);
    expect(names).toContain('layer1.0.bn1.weight');
    expect(names.some((name) => name.includes('running_mean'))).toBe(false);
    const images = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const { value, grads } = tf.variableGrads(() => {
      const outputs = model.apply(images, { training: true });
      return tf.mean(tf.square(outputs.c5)) as tf.Scalar;
    });
    const weight = model.parameters.entries().find((entry) => entry.name === 'layer4.1.bn1.weight');
    const grad = grads[weight!.variable.name];
    expect(grad).toBeDefined();
    expect(tf.tidy(() => tf.norm(grad!).dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([value, images, ...Object.values(grads)]);
    model.dispose();
  });
});
