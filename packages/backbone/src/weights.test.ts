import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResNet } from './resnet';
import { parseSafetensors, serializeSafetensors } from './safetensors';
import { fixturesDir } from './test-helpers';
import { loadTorchvisionWeights, loadWeights, saveWeights } from './weights';

let directory = '';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
  directory = mkdtempSync(join(tmpdir(), 'det-backbone-weights-'));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

function smallStore(): ParameterStore {
  const store = new ParameterStore();
  const conv = store.scope('conv');
  conv.create('weight', tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 108));
  conv.create('bias', tf.randomNormal([4], 0, 1, 'float32', 109));
  store.create('steps', tf.tensor1d([7, -3], 'int32'), { trainable: false });
  return store;
}

describe('saveWeights / loadWeights', () => {
  it('round-trips every variable by name, atomically, with metadata', async () => {
    const source = smallStore();
    const path = join(directory, 'checkpoint.safetensors');
    await saveWeights(source, path, { metadata: { step: '12' } });
    expect(readdirSync(directory).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    const file = parseSafetensors(readFileSync(path), path);
    expect(file.metadata).toEqual({ step: '12' });
    expect([...file.tensors.keys()]).toEqual(['conv.weight', 'conv.bias', 'steps']);

    const target = new ParameterStore({ prefix: '' });
    const scoped = target.scope('detector');
    scoped.scope('conv').create('weight', tf.zeros([3, 3, 2, 4]));
    scoped.scope('conv').create('bias', tf.zeros([4]));
    scoped.create('steps', tf.zeros([2], 'int32'));
    const report = await loadWeights(scoped, path);
    expect(report.loaded).toEqual(['conv.weight', 'conv.bias', 'steps']);
    for (const name of ['conv.weight', 'conv.bias', 'steps']) {
      expect(Array.from(target.get(`detector.${name}`).dataSync())).toEqual(
        Array.from(source.get(name).dataSync()),
      );
    }
    source.dispose();
    target.dispose();
  });

  it('overwrites an existing checkpoint in place and reports a write failure with the path', async () => {
    const store = smallStore();
    const path = join(directory, 'overwrite.safetensors');
    await saveWeights(store, path);
    await saveWeights(store, path);
    expect(readdirSync(directory).filter((name) => name.startsWith('overwrite'))).toEqual([
      'overwrite.safetensors',
    ]);
    const missingDir = join(directory, 'no-such-dir', 'x.safetensors');
    await expect(saveWeights(store, missingDir)).rejects.toThrow(
      `Cannot write weights to ${missingDir}`,
    );
    store.dispose();
  });

  it('reports missing, unexpected and mismatched tensors together, loading nothing', async () => {
    const bytes = serializeSafetensors([
      ['conv.weight', { shape: [3, 3, 2, 5], values: new Float32Array(90) }],
      ['extra.weight', { shape: [1], values: new Float32Array(1) }],
      ['steps', { shape: [2], values: new Int32Array([1, 2]) }],
    ]);
    const store = smallStore();
    const before = Array.from(store.get('steps').dataSync());
    const error = await loadWeights(store, bytes).catch((e: Error) => e);
    expect((error as Error).message).toBe(
      [
        'Cannot load weights from <bytes> (strict):',
        '  missing in the file (1): conv.bias',
        '  unexpected in the file (1): extra.weight',
        '  shape or dtype mismatch (1): conv.weight: file [3, 3, 2, 5], model [3, 3, 2, 4]',
        'Pass { strict: false } to load the tensors that match and get these lists back.',
      ].join('\n'),
    );
    expect(Array.from(store.get('steps').dataSync())).toEqual(before);

    const report = await loadWeights(store, bytes, { strict: false });
    expect(report).toMatchObject({
      loaded: ['steps'],
      missing: ['conv.bias'],
      unexpected: ['extra.weight'],
      mismatched: [{ name: 'conv.weight', expected: [3, 3, 2, 4], actual: [3, 3, 2, 5] }],
    });
    expect(Array.from(store.get('steps').dataSync())).toEqual([1, 2]);
    store.dispose();
  });

  it('names the file when it cannot be read or is malformed', async () => {
    const store = smallStore();
    const missing = join(directory, 'missing.safetensors');
    await expect(loadWeights(store, missing)).rejects.toThrow(
      `Cannot read weights file ${missing}`,
    );
    const bytes = serializeSafetensors([
      ['conv.bias', { shape: [4], values: new Float32Array(4) }],
    ]);
    await expect(loadWeights(store, bytes.subarray(0, bytes.byteLength - 4))).rejects.toThrow(
      "<bytes>: tensor 'conv.bias': data_offsets [0, 16] run past the 12 data bytes",
    );
    store.dispose();
  });
});

describe('loadTorchvisionWeights', () => {
  it('transposes OIHW filters to HWIO and [out, in] linear weights to [in, out]', async () => {
    const store = new ParameterStore();
    store.scope('conv').create('weight', tf.zeros([1, 2, 3, 2]));
    store.scope('fc').create('weight', tf.zeros([3, 2]));
    // OIHW [2, 3, 1, 2]: value = 1000·o + 100·i + 10·h + w.
    const oihw = new Float32Array(12);
    for (let o = 0; o < 2; o++)
      for (let i = 0; i < 3; i++)
        for (let w = 0; w < 2; w++) oihw[o * 6 + i * 2 + w] = 1000 * o + 100 * i + w;
    const bytes = serializeSafetensors([
      ['conv.weight', { shape: [2, 3, 1, 2], values: oihw }],
      ['fc.weight', { shape: [2, 3], values: new Float32Array([1, 2, 3, 4, 5, 6]) }],
    ]);
    await loadTorchvisionWeights(store, bytes, { ignore: [] });
    const hwio = store.get('conv.weight').arraySync() as number[][][][];
    expect(hwio[0]?.[1]?.[2]).toEqual([201, 1201]);
    expect(store.get('fc.weight').arraySync()).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    store.dispose();
  });

  it('lists every problem of a wrong checkpoint in one error (resnet18 file into resnet50)', async () => {
    const model = withInitializerSeed(40, () =>
      createResNet({ depth: 50, widthMultiplier: 0.0625 }),
    );
    const path = join(fixturesDir, 'resnet18-w0.125.safetensors');
    const error = await loadTorchvisionWeights(model, path).catch((e: Error) => e);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^Cannot load weights from ${path} \\(strict\\):`));
    expect(message).toMatch(/missing in the file \(\d+\): layer1\.0\.conv3\.weight/);
    expect(message).toMatch(
      /shape or dtype mismatch \(\d+\): conv1\.weight: file \[8, 3, 7, 7\] \(as \[7, 7, 3, 8\]\), model \[7, 7, 3, 4\]/,
    );
    expect(message).not.toMatch(/num_batches_tracked|fc\./);
    const report = await loadTorchvisionWeights(model, path, { strict: false });
    expect(report.ignored).toContain('fc.bias');
    expect(report.ignored).toContain('layer1.0.bn1.num_batches_tracked');
    expect(report.missing).toContain('layer4.2.bn3.running_var');
    expect(report.unexpected).toEqual([]);
    model.dispose();
  });
});
