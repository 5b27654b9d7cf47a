import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { activeBackend, initBackend } from './init-backend';

// The failure path below must not depend on what this machine has installed: both
// tfjs-node packages fail to load here whether or not they are present.
vi.mock('@tensorflow/tfjs-node-gpu', () => {
  throw new Error('tfjs-node-gpu unavailable (mocked by the test)');
});
vi.mock('@tensorflow/tfjs-node', () => {
  throw new Error('tfjs-node unavailable (mocked by the test)');
});

describe('initBackend', () => {
  it('rejects an unknown DET_BACKEND value', async () => {
    await expect(initBackend({ env: { DET_BACKEND: 'tpu' } })).rejects.toThrow(
      /DET_BACKEND=tpu is not a backend; choose one of webgpu, tensorflow, wasm, cpu/,
    );
  });

  it('rejects a malformed DET_WASM_THREADS', async () => {
    await expect(initBackend({ env: { DET_WASM_THREADS: 'two' } })).rejects.toThrow(
      /DET_WASM_THREADS=two must be a positive integer/,
    );
  });

  it('rejects a malformed DET_WEBGPU_ALLOW_SOFTWARE', async () => {
    await expect(
      initBackend({ env: { DET_BACKEND: 'webgpu', DET_WEBGPU_ALLOW_SOFTWARE: 'yes' } }),
    ).rejects.toThrow(/DET_WEBGPU_ALLOW_SOFTWARE=yes must be 1 or 0/);
  });

  it('never takes a software webgpu adapter without the opt-in, and says how to opt in', async () => {
    const error = await initBackend({ env: { DET_BACKEND: 'webgpu' } }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/The backend 'webgpu' cannot load: webgpu: /);
    expect((error as Error).message).toMatch(/DET_WEBGPU_ALLOW_SOFTWARE=1/);
    expect(activeBackend()).toBeUndefined();
  });

  it('fails clearly when a forced backend cannot load, naming the others', async () => {
    const error = await initBackend({ env: { DET_BACKEND: 'tensorflow' } }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(
      /The backend 'tensorflow' cannot load: tensorflow: neither tfjs-node-gpu nor tfjs-node/,
    );
    // Each specifier's own load error is named.
    expect(message).toMatch(/@tensorflow\/tfjs-node-gpu: .+; @tensorflow\/tfjs-node: /);
    expect(message).toMatch(/wasm: available/);
    expect(message).toMatch(/cpu: available/);
    expect(activeBackend()).toBeUndefined();
  });

  it('honours DET_BACKEND and picks wasm here, with the gradient overrides wasm needs', async () => {
    const info = await initBackend({ env: { DET_BACKEND: 'wasm' } });
    expect(info).toMatchObject({ name: 'wasm', version: '4.22.0', threads: 1 });
    expect(info.device).toMatch(/wasm/);
    expect(tf.getBackend()).toBe('wasm');
    expect(info.gradientOverrides).toEqual([
      'Conv2D',
      'Conv2DBackpropInput',
      'GatherV2',
      'MaxPool',
    ]);
    // The choice is made once per process.
    await expect(initBackend()).resolves.toBe(info);
    await expect(initBackend({ backend: 'cpu' })).rejects.toThrow(
      /already 'wasm'.*cannot switch to 'cpu'/,
    );
  });
});
