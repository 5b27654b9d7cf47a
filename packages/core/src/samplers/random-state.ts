import * as tf from '@tensorflow/tfjs-core';
import { isSeededRandom, type SeededRandom } from './seeded-random';

/** The positions of the seeded generators reachable from an object, by property path. */
export type RandomState = Record<string, number>;

/**
 * Every `mulberry32` generator reachable from `root` through its own properties (arrays,
 * maps and plain or class objects; tensors, typed arrays and closures are not entered),
 * keyed by the first property path that reaches it, in property order. A model built the
 * same way has the same paths, which is what saving and restoring random state relies on.
 */
export function seededGeneratorsOf(root: object): Map<string, SeededRandom> {
  const found = new Map<string, SeededRandom>();
  const seen = new Set<unknown>();
  const visit = (value: unknown, path: string): void => {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return;
    if (seen.has(value)) return;
    seen.add(value);
    if (typeof value === 'function') {
      if (isSeededRandom(value)) found.set(path, value);
      return;
    }
    if (value instanceof tf.Tensor || ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
      return;
    const join = (key: string) => (path === '' ? key : `${path}.${key}`);
    if (Array.isArray(value)) {
      value.forEach((item, index) => {
        visit(item, `${path}[${index}]`);
      });
    } else if (value instanceof Map) {
      for (const [key, item] of value) visit(item, join(String(key)));
    } else if (value instanceof Set) {
      [...value].forEach((item, index) => {
        visit(item, `${path}{${index}}`);
      });
    } else {
      for (const key of Object.keys(value))
        visit((value as Record<string, unknown>)[key], join(key));
    }
  };
  visit(root, '');
  return found;
}

/** The state of every seeded generator reachable from `root` (see `seededGeneratorsOf`). */
export function randomStateOf(root: object): RandomState {
  const state: RandomState = {};
  for (const [path, generator] of seededGeneratorsOf(root)) state[path] = generator.state();
  return state;
}

/**
 * Restores what `randomStateOf` saved. The generators must be the same: a path missing on
 * either side is an error naming it (a model built from another config).
 */
export function restoreRandomStateOf(root: object, state: RandomState): void {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new Error(
      `random state: expected an object of generator positions, got ${JSON.stringify(state)}`,
    );
  }
  const generators = seededGeneratorsOf(root);
  for (const path of Object.keys(state)) {
    if (!generators.has(path)) {
      throw new Error(`random state: the saved generator "${path}" does not exist in this model`);
    }
  }
  for (const path of generators.keys()) {
    const value = state[path];
    if (value === undefined) {
      throw new Error(`random state: no saved position for the generator "${path}"`);
    }
    if (!(Number.isInteger(value) && value >= 0 && value <= 0xffffffff)) {
      throw new Error(
        `random state: "${path}" must be an unsigned 32-bit integer, got ${JSON.stringify(value)}`,
      );
    }
  }
  for (const [path, generator] of generators) generator.setState(state[path]!);
}
