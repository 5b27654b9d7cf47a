import { join } from 'node:path';
import { initBackend, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createFpn, type FpnLevels, type FpnOptions } from './fpn';
import { expectCloseToScale, fixturesDir, readNchwTensors } from './test-helpers';
import { loadTorchvisionWeights } from './weights';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** torchvision FeaturePyramidNetwork (random weights and biases) on odd-sized inputs. */
async function expectParity(name: string, options: FpnOptions<FpnLevels>, levels: string[]) {
  const before = tf.memory().numTensors;
  const fpn = withInitializerSeed(30, () => createFpn(options));
  await loadTorchvisionWeights(fpn, join(fixturesDir, `${name}.safetensors`));
  const io = readNchwTensors(join(fixturesDir, `${name}.io.safetensors`));
  const outputs = fpn.apply(Object.fromEntries(io));
  expect(Object.keys(outputs)).toEqual(levels);
  for (const level of levels) {
    const actual = (outputs as Record<string, tf.Tensor4D>)[level] as tf.Tensor4D;
    expectCloseToScale(actual, io.get(level) as tf.Tensor4D, 1e-5, `${name} ${level}`);
  }
  tf.dispose([...Object.values(outputs), ...io.values()]);
  fpn.dispose();
  expect(tf.memory().numTensors).toBe(before);
}

describe('FPN parity with torchvision.ops.FeaturePyramidNetwork', () => {
  it('P3–P7 with P6 from C5 (LastLevelP6P7(c5, out)), odd sizes 9×8 → 5×4 → 3×2', async () => {
    await expectParity('fpn-p3p7-c5', { inChannels: [16, 32, 64], outChannels: 24 }, [
      'p3',
      'p4',
      'p5',
      'p6',
      'p7',
    ]);
  });

  it('P3–P7 with P6 from P5', async () => {
    await expectParity(
      'fpn-p3p7-p5',
      { inChannels: [16, 32, 64], outChannels: 24, extraInput: 'p5' },
      ['p3', 'p4', 'p5', 'p6', 'p7'],
    );
  });

  it('P2–P6 with P6 = max_pool2d(P5, 1, 2) (LastLevelMaxPool)', async () => {
    await expectParity(
      'fpn-p2p6',
      { inChannels: [8, 16, 32, 64], outChannels: 24, levels: 'p2-p6' },
      ['p2', 'p3', 'p4', 'p5', 'p6'],
    );
  });
});

describe('createFpn', () => {
  it('uses torchvision names, xavier-uniform weights and zero biases, 256 channels by default', () => {
    const fpn = withInitializerSeed(3, () => createFpn({ inChannels: [128, 256, 512] }));
    const names = fpn.parameters.entries().map((entry) => entry.name);
    expect(names).toContain('inner_blocks.0.0.weight');
    expect(names).toContain('layer_blocks.2.0.bias');
    expect(names).toContain('extra_blocks.p7.weight');
    const inner = fpn.parameters.get('inner_blocks.2.0.weight');
    expect(inner.shape).toEqual([1, 1, 512, 256]);
    // xavier bound √(6/(fanIn + fanOut)) for a 1×1 conv 512 → 256.
    const bound = Math.sqrt(6 / (512 + 256));
    const [min, max] = tf.tidy(() => [tf.min(inner).dataSync()[0], tf.max(inner).dataSync()[0]]);
    expect(max).toBeLessThanOrEqual(bound);
    expect(min).toBeGreaterThanOrEqual(-bound);
    expect(max).toBeGreaterThan(bound * 0.9);
    expect(Array.from(fpn.parameters.get('layer_blocks.0.0.bias').dataSync())).toEqual(
      new Array(256).fill(0),
    );
    expect(fpn.outputShapes).toEqual({
      p3: { channels: 256, stride: 8 },
      p4: { channels: 256, stride: 16 },
      p5: { channels: 256, stride: 32 },
      p6: { channels: 256, stride: 64 },
      p7: { channels: 256, stride: 128 },
    });
    fpn.dispose();
  });

  it('reports P2–P6 shapes and has no extra parameters', () => {
    const fpn = withInitializerSeed(31, () =>
      createFpn({ inChannels: [8, 16, 32, 64], outChannels: 32, levels: 'p2-p6' }),
    );
    expect(fpn.levelNames).toEqual(['p2', 'p3', 'p4', 'p5', 'p6']);
    expect(fpn.outputShapes.p2).toEqual({ channels: 32, stride: 4 });
    expect(fpn.outputShapes.p6).toEqual({ channels: 32, stride: 64 });
    expect(fpn.parameters.entries().some((entry) => entry.name.startsWith('extra'))).toBe(false);
    fpn.dispose();
  });

  it('differentiates on wasm through the nearest upsampling and the extra levels', () => {
    const fpn = withInitializerSeed(32, () =>
      createFpn({ inChannels: [4, 8, 16], outChannels: 8 }),
    );
    const inputs = {
      c3: tf.randomNormal([2, 9, 7, 4], 0, 1, 'float32', 102) as tf.Tensor4D,
      c4: tf.randomNormal([2, 5, 4, 8], 0, 1, 'float32', 103) as tf.Tensor4D,
      c5: tf.randomNormal([2, 3, 2, 16], 0, 1, 'float32', 104) as tf.Tensor4D,
    };
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () =>
        Object.values(fpn.apply(inputs))
          .map((level) => tf.sum(tf.square(level)))
          .reduce((total, term) => tf.add(total, term)) as tf.Scalar,
    );
    const variables = fpn.parameters.entries();
    expect(Object.keys(grads).length).toBe(variables.length);
    for (const { variable, name } of variables) {
      const norm = tf.tidy(() => tf.norm(grads[variable.name] as tf.Tensor).dataSync()[0]);
      expect(norm, name).toBeGreaterThan(0);
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(inputs));
    fpn.dispose();
  });

  it('rejects bad options and inputs with clear errors', () => {
    expect(() => createFpn({ inChannels: [8, 16] })).toThrow(
      "FPN levels 'p3-p7' takes 3 inputs (C3–C5), got inChannels [8, 16]",
    );
    expect(() => createFpn({ inChannels: [8, 16, 32], outChannels: 0 })).toThrow(
      'FPN outChannels must be a positive integer, got 0',
    );
    const fpn = withInitializerSeed(33, () =>
      createFpn({ inChannels: [4, 8, 16], outChannels: 8 }),
    );
    const c3 = tf.zeros([1, 8, 8, 4]) as tf.Tensor4D;
    const c4 = tf.zeros([1, 4, 4, 5]) as tf.Tensor4D;
    expect(() => fpn.apply({ c3 })).toThrow("FPN input 'c4' is missing (needs c3, c4, c5)");
    expect(() => fpn.apply({ c3, c4, c5: c4 })).toThrow(
      "FPN input 'c4' must be NHWC with 8 channels, got shape [1, 4, 4, 5]",
    );
    tf.dispose([c3, c4]);
    fpn.dispose();
  });
});
