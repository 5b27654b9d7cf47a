import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';

/** A tensor as the fixture generator (scripts/fixtures/core-ops.py) writes it. */
export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export function loadFixture<T>(name: string): T {
  return JSON.parse(
    readFileSync(new URL(`../__fixtures__/ops/${name}`, import.meta.url), 'utf8'),
  ) as T;
}

export function tensorOf(fixture: FixtureTensor): tf.Tensor {
  return tf.tensor(fixture.data, fixture.shape, 'float32');
}

/** One case of `deform-conv2d.json` (torchvision.ops.deform_conv2d forward and gradients). */
export interface DeformCase {
  name: string;
  options: {
    strides: [number, number];
    pad: [number, number];
    dilations: [number, number];
    deformGroups: number;
  };
  input: FixtureTensor;
  offset: FixtureTensor;
  filter: FixtureTensor;
  upstream: FixtureTensor;
  output: FixtureTensor;
  gradInput: FixtureTensor;
  gradOffset: FixtureTensor;
  gradFilter: FixtureTensor;
  bias?: FixtureTensor;
  gradBias?: FixtureTensor;
  mask?: FixtureTensor;
  gradMask?: FixtureTensor;
}
