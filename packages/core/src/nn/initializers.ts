import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../samplers/seeded-random';

/** Creates an initial value for a parameter of the given shape. */
export type Initializer = (shape: number[]) => tf.Tensor;

/** Fan-in of an HWIO conv filter or an [in, out] dense kernel. */
export function fanIn(shape: number[]): number {
  if (shape.length === 2) return shape[0] as number;
  if (shape.length === 4) return (shape[0] as number) * (shape[1] as number) * (shape[2] as number);
  return shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

/** Fan-out of an HWIO conv filter or an [in, out] dense kernel. */
export function fanOut(shape: number[]): number {
  if (shape.length === 4) return (shape[0] as number) * (shape[1] as number) * (shape[3] as number);
  return shape[shape.length - 1] as number;
}

let seedStream: (() => number) | undefined;

/**
 * Runs `build` with every random initializer that was not given its own seed drawing one
 * from a stream seeded by `seed`: the same seed and the same construction order give the
 * same initial weights (torch.manual_seed before building a model). Nests; restores the
 * previous stream on return or throw.
 */
export function withInitializerSeed<T>(seed: number, build: () => T): T {
  const previous = seedStream;
  const random = mulberry32(seed);
  seedStream = () => Math.floor(random() * 0x7fffffff);
  try {
    return build();
  } finally {
    seedStream = previous;
  }
}

function seedOf(explicit: number | undefined): number | undefined {
  return explicit ?? seedStream?.();
}

export const zeros: Initializer = (shape) => tf.zeros(shape);

export function constant(value: number): Initializer {
  return (shape) => tf.fill(shape, value);
}

/** N(mean, std²), as mmdetection's `normal_init` (heads use std 0.01). */
export function normal(options: { std: number; mean?: number; seed?: number }): Initializer {
  return (shape) =>
    tf.randomNormal(shape, options.mean ?? 0, options.std, 'float32', seedOf(options.seed));
}

/** U(−b, b) with b = gain·√(6/(fanIn+fanOut)): torch's xavier_uniform_ (FPN convs in mmdetection). */
export function xavierUniform(options: { gain?: number; seed?: number } = {}): Initializer {
  return (shape) => {
    const bound = (options.gain ?? 1) * Math.sqrt(6 / (fanIn(shape) + fanOut(shape)));
    return tf.randomUniform(shape, -bound, bound, 'float32', seedOf(options.seed));
  };
}

/**
 * Kaiming (He) normal, fan-out, ReLU gain — torchvision's ResNet conv init:
 * std = √2 / √fanOut.
 */
export function kaimingNormal(
  options: { mode?: 'fanIn' | 'fanOut'; seed?: number } = {},
): Initializer {
  return (shape) => {
    const fan = options.mode === 'fanIn' ? fanIn(shape) : fanOut(shape);
    return tf.randomNormal(shape, 0, Math.sqrt(2 / fan), 'float32', seedOf(options.seed));
  };
}

/**
 * PyTorch's default for Conv2d/Linear weights (kaiming_uniform_ with a = √5):
 * U(−1/√fanIn, 1/√fanIn). The same bound is PyTorch's default bias init.
 */
export function torchDefaultUniform(options: { fanIn?: number; seed?: number } = {}): Initializer {
  return (shape) => {
    const bound = 1 / Math.sqrt(options.fanIn ?? fanIn(shape));
    return tf.randomUniform(shape, -bound, bound, 'float32', seedOf(options.seed));
  };
}

/** Bias that makes sigmoid(bias) = p: RetinaNet's prior-probability init, −log((1−p)/p). */
export function priorProbabilityBias(probability: number): Initializer {
  return constant(-Math.log((1 - probability) / probability));
}
