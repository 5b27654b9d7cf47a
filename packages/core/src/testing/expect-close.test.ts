import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../index';
import { closeMismatch, expectClose } from './expect-close';

const tight = { atol: 1e-6, rtol: 1e-6 };

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
});

describe('expectClose', () => {
  it('passes values within atol + rtol·|expected| and fails just outside', () => {
    expect(closeMismatch([1.5, -2], [1.5 + 1e-7, -2 - 1e-6], tight)).toBeUndefined();
    expect(closeMismatch([100.0002], [100], { atol: 0, rtol: 1e-6 })).toMatch(
      /1 of 1 values .* worst \[0\]: got 100.0002, expected 100/,
    );
  });

  it('fails on NaN on either side and on an infinity against a finite value', () => {
    expect(closeMismatch([0, Number.NaN], [0, 1], tight)).toMatch(/worst \[1\]: got NaN/);
    expect(closeMismatch([0, 1], [0, Number.NaN], tight)).toMatch(/worst \[1\]/);
    expect(closeMismatch([Number.NaN], [Number.NaN], { atol: 1e9, rtol: 1e9 })).toMatch(/got NaN/);
    expect(closeMismatch([Number.POSITIVE_INFINITY], [1], { atol: 1e9, rtol: 1 })).toMatch(
      /got Infinity/,
    );
    expect(
      closeMismatch([Number.NEGATIVE_INFINITY], [Number.NEGATIVE_INFINITY], tight),
    ).toBeUndefined();
  });

  it('reports the worst element and the number of failures', () => {
    expect(closeMismatch([1, 5, 3], [0, 0, 0], { atol: 0.5, rtol: 0 })).toBe(
      '3 of 3 values outside atol 0.5 + rtol 0·|expected|; worst [1]: got 5, expected 0',
    );
  });

  it('compares shapes and lengths', () => {
    const tensor = tf.tensor([1, 2, 3, 4], [2, 2]);
    expect(closeMismatch(tensor, { shape: [2, 2], data: [1, 2, 3, 4] }, tight)).toBeUndefined();
    expect(closeMismatch(tensor, { shape: [4], data: [1, 2, 3, 4] }, tight)).toMatch(
      /shape \[2, 2\], expected \[4\]/,
    );
    expect(closeMismatch([1, 2], [1], tight)).toMatch(/2 values, expected 1/);
    tensor.dispose();
  });

  it('throws an error naming the quantity, and rejects a NaN tolerance', () => {
    expect(() => expectClose([2], [1], { ...tight, label: 'gradOffset' })).toThrow(
      /^gradOffset: 1 of 1 values/,
    );
    expect(() => expectClose([1], [1], { atol: Number.NaN, rtol: 0 })).toThrow(
      /tolerance must be non-negative/,
    );
  });
});
