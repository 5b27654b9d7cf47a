import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import { expectClose } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d } from './batch-norm';
import { createResNet } from './resnet';
import { parseSafetensors, type SafetensorsTensor } from './safetensors';
import { expectCloseToScale, fixturesDir } from './test-helpers';
import { loadTorchvisionWeights } from './weights';

/** float32 on wasm against torch in float64 (outputs of order 1, gradients of order 10). */
const tolerance = { atol: 1e-5, rtol: 1e-4 };

const read = (name: string) =>
  parseSafetensors(readFileSync(join(fixturesDir, name)), name).tensors;

const nhwc = (t: SafetensorsTensor) =>
  tf.tidy(
    () =>
      tf.transpose(
        tf.tensor4d(t.values as Float32Array, t.shape as [number, number, number, number]),
        [0, 2, 3, 1],
      ) as tf.Tensor4D,
  );

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('BatchNorm2d', () => {
  // scripts/fixtures/backbone_torchvision.py small: BatchNorm2d(6), momentum 0.1, float64.
  const io = read('batch-norm.io.safetensors');
  const start = read('batch-norm.safetensors');

  function create(): BatchNorm2d {
    const norm = new BatchNorm2d(new ParameterStore(), { channels: 6 });
    for (const [variable, name] of [
      [norm.weight, 'weight'],
      [norm.bias, 'bias'],
      [norm.runningMean, 'running_mean'],
      [norm.runningVar, 'running_var'],
    ] as const) {
      tf.tidy(() => variable.assign(tf.tensor1d(start.get(name)!.values as Float32Array)));
    }
    return norm;
  }

  it('equals torch.nn.BatchNorm2d in training: output, gradients, running statistics, then eval', () => {
    const norm = create();
    const input = nhwc(io.get('input')!);
    const upstream = nhwc(io.get('upstream')!);
    const before = tf.memory().numTensors;
    const objective = () =>
      tf.sum(tf.mul(norm.apply(input, { training: true }), upstream)) as tf.Scalar;
    // One forward with the tape, as a training step runs it: gradients and the statistics'
    // update from the same pass.
    const { value, grads } = tf.variableGrads(objective, [norm.weight, norm.bias]);
    expectClose(grads[norm.weight.name]!, io.get('grad_weight')!.values, {
      ...tolerance,
      label: 'grad weight',
    });
    expectClose(grads[norm.bias.name]!, io.get('grad_bias')!.values, {
      ...tolerance,
      label: 'grad bias',
    });
    expectClose(norm.runningMean, io.get('running_mean')!.values, {
      ...tolerance,
      label: 'running mean',
    });
    expectClose(norm.runningVar, io.get('running_var')!.values, {
      ...tolerance,
      label: 'running var (unbiased)',
    });
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);

    // Input gradient and output without moving the statistics again.
    const frozenMode = { training: true, updateStatistics: false };
    const output = norm.apply(input, frozenMode);
    const expectedOutput = nhwc(io.get('output')!);
    expectClose(output, expectedOutput, { ...tolerance, label: 'output' });
    const gradInput = tf.grad((x: tf.Tensor) =>
      tf.sum(tf.mul(norm.apply(x as tf.Tensor4D, frozenMode), upstream)),
    )(input);
    const expectedGradInput = nhwc(io.get('grad_input')!);
    expectClose(gradInput, expectedGradInput, { ...tolerance, label: 'grad input' });
    expectClose(norm.runningMean, io.get('running_mean')!.values, {
      ...tolerance,
      label: 'running mean unchanged by updateStatistics: false',
    });

    const evalInput = nhwc(io.get('eval_input')!);
    const evaluated = norm.apply(evalInput);
    const expectedEval = nhwc(io.get('eval_output')!);
    expectClose(evaluated, expectedEval, { ...tolerance, label: 'eval output' });
    tf.dispose([output, gradInput, evaluated]);
    tf.dispose([expectedOutput, expectedGradInput, evalInput, expectedEval]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([input, upstream]);
    tf.dispose([norm.weight, norm.bias, norm.runningMean, norm.runningVar]);
  });

  it('refuses training on one value per channel and a momentum outside [0, 1]', () => {
    const norm = new BatchNorm2d(new ParameterStore().scope('layer4').scope('bn2'), {
      channels: 2,
    });
    const single = tf.zeros([1, 1, 1, 2]) as tf.Tensor4D;
    expect(() => norm.apply(single, { training: true })).toThrow(
      "BatchNorm2d layer4.bn2: training needs more than one value per channel, got input [1, 1, 1, 2] (a larger batch or image, or norm 'group')",
    );
    // Eval mode is fine on one value, as in torch.
    tf.dispose(norm.apply(single));
    expect(() => new BatchNorm2d(new ParameterStore(), { channels: 2, momentum: 1.5 })).toThrow(
      'BatchNorm2d: momentum 1.5 must be in [0, 1]',
    );
    tf.dispose([single, norm.weight, norm.bias, norm.runningMean, norm.runningVar]);
  });
});

describe("ResNet with norm: 'batch' in training mode", () => {
  for (const [label, file, frozenStages] of [
    ['nothing frozen', 'resnet18-w0.125-train-all', -1],
    ['stem and layer1 frozen (eval mode)', 'resnet18-w0.125-train-frozen1', 1],
  ] as const) {
    it(`matches torchvision's train() forward and running statistics: ${label}`, async () => {
      const model = withInitializerSeed(3, () =>
        createResNet({ depth: 18, widthMultiplier: 0.125, norm: 'batch', frozenStages }),
      );
      const report = await loadTorchvisionWeights(
        model,
        join(fixturesDir, 'resnet18-w0.125.safetensors'),
      );
      expect(report.missing).toEqual([]);
      const io = read(`${file}.io.safetensors`);
      const input = nhwc(io.get('input')!);
      const before = tf.memory().numTensors;
      const outputs = model.apply(input, { training: true });
      for (const level of ['c2', 'c3', 'c4', 'c5'] as const) {
        const expected = nhwc(io.get(level)!);
        expectCloseToScale(outputs[level], expected, 1e-4, `${file} ${level}`);
        expected.dispose();
      }
      let checked = 0;
      for (const entry of model.parameters.entries()) {
        if (!/running_(mean|var)$/.test(entry.name)) continue;
        const expected = io.get(entry.name)!;
        expectClose(entry.variable, expected.values, {
          atol: 1e-5,
          rtol: 1e-4,
          label: entry.name,
        });
        checked += 1;
      }
      // 20 BN layers (stem, 8 blocks × 2, 3 downsamples), mean and var each.
      expect(checked).toBe(40);
      tf.dispose(Object.values(outputs));
      expect(tf.memory().numTensors).toBe(before);
      input.dispose();
      model.dispose();
    });
  }
});
