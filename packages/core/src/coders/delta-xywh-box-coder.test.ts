import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { expectClose } from '../testing';
import { DeltaXYWHBoxCoder } from './delta-xywh-box-coder';

interface CoderCase {
  name: string;
  weights: [number, number, number, number];
  proposals: number[];
  targets: number[];
  encoded: number[];
  deltas: number[];
  decoded: number[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../__fixtures__/primitives/box-coder.json', import.meta.url), 'utf8'),
) as { clampLog: number; cases: CoderCase[] };

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

const boxes = (values: number[]) => tf.tensor2d(values, [values.length / 4, 4]);

describe('DeltaXYWHBoxCoder against torchvision BoxCoder', () => {
  for (const c of fixture.cases) {
    it(`encodes and decodes like BoxCoder(${c.weights.join(', ')}) with weights`, () => {
      const before = tf.memory().numTensors;
      const coder = new DeltaXYWHBoxCoder({ weights: c.weights });
      const proposals = boxes(c.proposals);
      const targets = boxes(c.targets);
      const deltas = boxes(c.deltas);
      const encoded = coder.encode(proposals, targets);
      // Same float32 operations in the same order as torchvision: equal up to exp/log ulps.
      expectClose(encoded.dataSync(), c.encoded, { atol: 1e-6, rtol: 1e-6 });
      const decoded = coder.decode(proposals, deltas);
      expectClose(decoded.dataSync(), c.decoded, { atol: 1e-6, rtol: 1e-6 });
      tf.dispose([proposals, targets, deltas, encoded, decoded]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`matches BoxCoder(${c.weights.join(', ')}) with stds = 1 / weights`, () => {
      const stds = c.weights.map((w) => 1 / w) as [number, number, number, number];
      const coder = new DeltaXYWHBoxCoder({ stds });
      expectClose(coder.encode(boxes(c.proposals), boxes(c.targets)).dataSync(), c.encoded, {
        atol: 1e-5,
        rtol: 1e-5,
      });
      expectClose(coder.decode(boxes(c.proposals), boxes(c.deltas)).dataSync(), c.decoded, {
        atol: 1e-5,
        rtol: 1e-5,
      });
    });
  }

  it('uses detectron2’s clamp log(1000 / 16) by default', () => {
    expect(new DeltaXYWHBoxCoder().clampLog).toBeCloseTo(fixture.clampLog, 12);
  });
});

describe('DeltaXYWHBoxCoder', () => {
  const coder = new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [0.1, 0.1, 0.2, 0.2] });

  it('round-trips: decode(p, encode(p, b)) = b, also for boxes identical to the prior', () => {
    const priors = boxes([0, 0, 10, 10, 5, 5, 25, 45, 100, 50, 300, 90, 3, 4, 5, 6]);
    const targets = boxes([1, 2, 12, 9, 5, 5, 25, 45, 80, 60, 350, 100, 3.5, 4.5, 4.75, 10]);
    const restored = coder.decode(priors, coder.encode(priors, targets));
    expectClose(restored.dataSync(), Array.from(targets.dataSync()), { atol: 1e-5, rtol: 1e-5 });
    const same = coder.encode(priors, priors);
    expect(Array.from(same.dataSync()).every((v) => Math.abs(v) < 1e-6)).toBe(true);
  });

  it('broadcasts [N, 4] priors against [B, N, 4] deltas', () => {
    const priors = boxes([0, 0, 10, 10, 0, 0, 20, 20]);
    const deltas = tf.zeros([3, 2, 4]);
    const decoded = coder.decode(priors, deltas);
    expect(decoded.shape).toEqual([3, 2, 4]);
    expect(Array.from(decoded.dataSync().slice(4, 8))).toEqual([0, 0, 20, 20]);
  });

  it('clips to maxShape = [height, width]', () => {
    const decoded = coder.decode(boxes([-10, -10, 50, 300]), tf.zeros([1, 4]), {
      maxShape: [200, 40],
    });
    expect(Array.from(decoded.dataSync())).toEqual([0, 0, 40, 200]);
  });

  it('handles [0, 4] inputs without leaking', () => {
    const before = tf.memory().numTensors;
    const empty = tf.zeros([0, 4]);
    const encoded = coder.encode(empty, empty);
    const decoded = coder.decode(empty, empty, { maxShape: [10, 10] });
    expect([encoded.shape, decoded.shape]).toEqual([
      [0, 4],
      [0, 4],
    ]);
    tf.dispose([empty, encoded, decoded]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is differentiable in the deltas and in the encode targets', () => {
    const priors = boxes([0, 0, 10, 20]);
    const gradDecode = tf.grad((d: tf.Tensor) => tf.sum(coder.decode(priors, d)))(tf.zeros([1, 4]));
    // Σ(x1 + y1 + x2 + y2) = 2(cx + cy): its dx gradient is 2·std·w = 2 and dw is 0 at 0.
    expectClose(gradDecode.dataSync(), [2, 4, 0, 0], { atol: 1e-6, rtol: 1e-6 });
    const gradEncode = tf.grad((t: tf.Tensor) => tf.sum(coder.encode(priors, t)))(
      boxes([1, 1, 9, 19]),
    );
    expect(gradEncode.shape).toEqual([1, 4]);
    expect(Array.from(gradEncode.dataSync()).every(Number.isFinite)).toBe(true);
  });

  it('rejects bad options with the field name', () => {
    expect(() => new DeltaXYWHBoxCoder({ stds: [1, 1, 0, 1] })).toThrow(
      /stds must be 4 finite positive numbers/,
    );
    expect(() => new DeltaXYWHBoxCoder({ weights: [1, 1, 1, 1], stds: [1, 1, 1, 1] })).toThrow(
      /either weights/,
    );
    expect(() => coder.encode(tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(
      /priors must have shape \[\.\.\., 4\]/,
    );
  });
});
