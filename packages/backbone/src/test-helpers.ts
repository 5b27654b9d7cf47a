import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expectClose } from '@det/core/testing';
import * as tf from '@tensorflow/tfjs-core';
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

/**
 * Asserts |actual − expected| ≤ `relative`·max|expected| everywhere (the error relative to
 * the feature map's scale: deep maps mix values of very different size) through the shared
 * NaN-safe comparison, and returns the measured max|actual − expected| / max|expected|.
 */
export function expectCloseToScale(
  actual: tf.Tensor,
  expected: tf.Tensor,
  relative: number,
  label: string,
): number {
  const [difference, scale] = tf.tidy(() => [
    tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] as number,
    tf.max(tf.abs(expected)).dataSync()[0] as number,
  ]);
  expectClose(actual, expected, { atol: relative * (scale as number), rtol: 0, label });
  return (difference as number) / (scale as number);
}

/**
 * Fails with the reason unless /usr/bin/python3 can import torch and torchvision (the
 * reference generator). scripts/ci-setup.sh installs them (Debian python3-torch,
 * python3-torchvision); the test never skips silently.
 */
export function requireTorchvision(): void {
  const result = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(
      `/usr/bin/python3 cannot import torch and torchvision (${(result.stderr || result.error?.message || '').trim().split('\n').pop()}): run scripts/ci-setup.sh (apt-get install python3-torch python3-torchvision)`,
    );
  }
}
