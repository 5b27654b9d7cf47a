import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { parseSafetensors } from './safetensors';

export const fixturesDir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
export const generatorScript = fileURLToPath(
  new URL('../../../scripts/fixtures/backbone_torchvision.py', import.meta.url),
);

/** Reads an `.io.safetensors` fixture: NCHW float32 tensors → NHWC tf tensors. */
export function readNchwTensors(path: string): Map<string, tf.Tensor4D> {
  const file = parseSafetensors(readFileSync(path), path);
  const out = new Map<string, tf.Tensor4D>();
  for (const [name, tensor] of file.tensors) {
    out.set(
      name,
      tf.tidy(() =>
        tf.transpose(
          tf.tensor4d(tensor.values, tensor.shape as [number, number, number, number]),
          [0, 2, 3, 1],
        ),
      ),
    );
  }
  return out;
}

/** max|actual − expected| / max|expected|: the error relative to the feature map's scale. */
export function relativeError(actual: tf.Tensor, expected: tf.Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  return tf.tidy(() => {
    const difference = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] as number;
    const scale = tf.max(tf.abs(expected)).dataSync()[0] as number;
    return difference / scale;
  });
}

/** Whether /usr/bin/python3 can import torch and torchvision (the reference generator). */
export function hasTorchvision(): boolean {
  const result = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], {
    stdio: 'ignore',
  });
  return result.status === 0;
}
