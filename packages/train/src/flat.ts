import { hasSyncReadback } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

/** Where each named tensor sits in a flat vector: names in order with their shapes and sizes. */
export interface FlatLayout {
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly sizes: readonly number[];
}

/** The layout of `tensors` concatenated in the order of `names`. */
export function layoutOf(names: readonly string[], tensors: readonly tf.Tensor[]): FlatLayout {
  return {
    names,
    shapes: tensors.map((tensor) => tensor.shape),
    sizes: tensors.map((tensor) => tensor.size),
  };
}

/** Same names, shapes and order. */
export function sameLayout(a: FlatLayout, b: FlatLayout): boolean {
  return (
    a.names.length === b.names.length &&
    a.names.every(
      (name, index) =>
        name === b.names[index] &&
        a.shapes[index]!.length === b.shapes[index]!.length &&
        a.shapes[index]!.every((extent, axis) => extent === b.shapes[index]![axis]),
    )
  );
}

/**
 * One float32 vector of `tensors` end to end (one concat; rank-1 tensors need no reshape).
 * Elementwise updates on it compute exactly what they compute tensor by tensor, in a handful
 * of kernels instead of a handful per tensor.
 */
export function flatten(tensors: readonly tf.Tensor[]): tf.Tensor1D {
  return tf.tidy(() => {
    const vectors = tensors.map((tensor) =>
      tensor.rank === 1 ? tensor : tf.reshape(tensor, [tensor.size]),
    );
    return (vectors.length === 1 ? tf.clone(vectors[0]!) : tf.concat(vectors)) as tf.Tensor1D;
  });
}

/**
 * The tensors of `layout` cut back out of `flat`, in their shapes. On host-memory backends from
 * one read of `flat` (wasm's split copies the whole input once per part: quadratic in the
 * parameter count); elsewhere one split.
 */
export function unflatten(flat: tf.Tensor, layout: FlatLayout): tf.Tensor[] {
  return tf.tidy(() => {
    if (layout.sizes.length === 1) return [tf.reshape(flat, layout.shapes[0] as number[])];
    if (hasSyncReadback(tf.getBackend())) {
      const values = flat.dataSync() as Float32Array | Int32Array;
      let offset = 0;
      return layout.sizes.map((size, index) => {
        const part = values.subarray(offset, offset + size);
        offset += size;
        return tf.tensor(part, layout.shapes[index] as number[], flat.dtype);
      });
    }
    return unflattenBySplit(flat, layout);
  });
}

/** `unflatten` on device-memory backends (webgpu): one split, no readback. */
export function unflattenBySplit(flat: tf.Tensor, layout: FlatLayout): tf.Tensor[] {
  return tf.tidy(() => {
    const parts = tf.split(flat, layout.sizes as number[], 0);
    return parts.map((part, index) => {
      const shape = layout.shapes[index]! as number[];
      return shape.length === 1 ? part : tf.reshape(part, shape);
    });
  });
}
