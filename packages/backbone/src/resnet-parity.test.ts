import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResNet, type ResNetOptions } from './resnet';
import {
  expectCloseToScale,
  fixturesDir,
  generatorScript,
  readNchwTensors,
  requireTorchvision,
} from './test-helpers';
import { loadTorchvisionWeights } from './weights';

/**
 * Loads `<case>.safetensors` (torchvision keys, strict) and compares C2–C5 with the
 * float64 torchvision outputs in `<case>.io.safetensors`.
 */
async function expectParity(directory: string, name: string, options: ResNetOptions) {
  const before = tf.memory().numTensors;
  const model = withInitializerSeed(50, () => createResNet(options));
  const report = await loadTorchvisionWeights(model, join(directory, `${name}.safetensors`));
  expect(report.missing).toEqual([]);
  expect(report.unexpected).toEqual([]);
  // Every BN's counter and the classifier are expected-and-ignored.
  expect(report.ignored).toContain('bn1.num_batches_tracked');
  expect(report.ignored).toContain('fc.weight');
  expect(report.loaded.length).toBe(model.parameters.entries().length);

  const io = readNchwTensors(join(directory, `${name}.io.safetensors`));
  const outputs = model.apply(io.get('input') as tf.Tensor4D);
  const errors: Record<string, number> = {};
  for (const level of ['c2', 'c3', 'c4', 'c5'] as const) {
    // float32 on wasm against torchvision in float64, relative to the map's largest value.
    errors[level] = expectCloseToScale(
      outputs[level],
      io.get(level) as tf.Tensor4D,
      1e-4,
      `${name} ${level}`,
    );
  }
  for (const level of ['c2', 'c3', 'c4', 'c5'] as const) {
    expect(outputs[level].shape[3]).toBe(model.outputShapes[level].channels);
  }
  tf.dispose([...Object.values(outputs), ...io.values()]);
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return errors;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

describe('ResNet parity with torchvision (committed width-reduced fixtures)', () => {
  it('resnet18 (torchvision BasicBlock, widths ×1/8) matches C2–C5', async () => {
    await expectParity(fixturesDir, 'resnet18-w0.125', { depth: 18, widthMultiplier: 0.125 });
  });

  it('resnet50 (torchvision Bottleneck, widths ×1/16) matches C2–C5', async () => {
    await expectParity(fixturesDir, 'resnet50-w0.0625', { depth: 50, widthMultiplier: 0.0625 });
  });

  it("resnet50 caffe style (stride on the 1×1) matches mmdetection's layout", async () => {
    await expectParity(fixturesDir, 'resnet50-w0.0625-caffe', {
      depth: 50,
      widthMultiplier: 0.0625,
      style: 'caffe',
    });
  });
});

/**
 * The real torchvision resnet18 / resnet50 (random weights, randomised BN statistics) are
 * ~45 / ~100 MB, too large to commit: they are generated into a temp dir when
 * /usr/bin/python3 has torch and torchvision, which scripts/ci-setup.sh installs; without
 * them the tests fail with that reason instead of skipping.
 */
describe('ResNet parity with full-size torchvision models', () => {
  let directory = '';

  beforeAll(() => {
    requireTorchvision();
    directory = mkdtempSync(join(tmpdir(), 'det-backbone-parity-'));
    const result = spawnSync(
      '/usr/bin/python3',
      [generatorScript, 'full', directory, 'resnet18', 'resnet50'],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) throw new Error(`generator failed: ${result.stderr}`);
  });

  afterAll(() => {
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('torchvision.models.resnet18 matches C2–C5 within 1e-4 relative', async () => {
    const errors = await expectParity(directory, 'resnet18', { depth: 18 });
    console.info('resnet18 relative errors', errors);
  });

  it('torchvision.models.resnet50 matches C2–C5 within 1e-4 relative', async () => {
    const errors = await expectParity(directory, 'resnet50', { depth: 50 });
    console.info('resnet50 relative errors', errors);
  });
});
