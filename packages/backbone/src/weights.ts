import type * as Crypto from 'node:crypto';
import type * as FsPromises from 'node:fs/promises';
import { importNodeBuiltin, type ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  parseSafetensors,
  type SafetensorsInput,
  type SafetensorsTensor,
  serializeSafetensors,
} from './safetensors';

/** A file path, or the file's bytes. */
export type WeightSource = string | Uint8Array;

/** A ParameterStore, or a model that holds one as `parameters`. */
export type WeightTarget = ParameterStore | { readonly parameters: ParameterStore };

export interface LoadWeightsOptions {
  /**
   * With `strict` (the default) any missing key, unexpected key or shape mismatch throws one
   * error listing them all, and nothing is loaded. With `strict: false` the matching tensors
   * are loaded and the lists are returned.
   */
  strict?: boolean;
  /** File keys that are expected and skipped (reported as `ignored`). */
  ignore?: readonly RegExp[];
}

export interface ShapeMismatch {
  name: string;
  /** The model variable's shape. */
  expected: number[];
  /** The file tensor's shape after conversion to det's layout. */
  actual: number[];
  /** The shape as stored in the file. */
  stored: number[];
}

export interface LoadWeightsReport {
  loaded: string[];
  /** Model parameters with no tensor in the file. */
  missing: string[];
  /** File tensors with no parameter in the model. */
  unexpected: string[];
  mismatched: ShapeMismatch[];
  ignored: string[];
}

/**
 * Keys a torchvision ResNet checkpoint holds that a det backbone does not: BN's
 * `num_batches_tracked` counters (unused by frozen BN) and the ImageNet classifier `fc`.
 */
export const torchvisionIgnoredKeys: readonly RegExp[] = [/(^|\.)num_batches_tracked$/, /^fc\./];

function storeOf(target: WeightTarget): ParameterStore {
  return 'parameters' in target ? target.parameters : target;
}

/** Parameter names relative to the store's scope, as they are written to a file. */
function relativeEntries(store: ParameterStore): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const entry of store.entries()) {
    out.set(entry.name.slice(store.prefix.length), entry.variable);
  }
  return out;
}

async function readSource(source: WeightSource): Promise<{ bytes: Uint8Array; label: string }> {
  if (typeof source !== 'string') return { bytes: source, label: '<bytes>' };
  const { readFile } = await importNodeBuiltin<typeof FsPromises>(
    'node:fs/promises',
    `reading weights from the path ${source} (pass the file's bytes instead)`,
  );
  try {
    return { bytes: await readFile(source), label: source };
  } catch (error) {
    throw new Error(
      `Cannot read weights file ${source}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** PyTorch layout → det layout: conv OIHW → HWIO, linear [out, in] → [in, out]. */
function torchPermutation(rank: number): number[] | undefined {
  if (rank === 4) return [2, 3, 1, 0];
  if (rank === 2) return [1, 0];
  return undefined;
}

function listLine(label: string, items: string[]): string {
  const shown = items.slice(0, 20).join(', ');
  const more = items.length > 20 ? ` ... and ${items.length - 20} more` : '';
  return `  ${label} (${items.length}): ${shown}${more}`;
}

async function loadInto(
  target: WeightTarget,
  source: WeightSource,
  options: LoadWeightsOptions,
  layout: 'det' | 'torch',
): Promise<LoadWeightsReport> {
  const store = storeOf(target);
  const { bytes, label } = await readSource(source);
  const file = parseSafetensors(bytes, label);
  const variables = relativeEntries(store);
  const ignore = options.ignore ?? [];
  const report: LoadWeightsReport = {
    loaded: [],
    missing: [],
    unexpected: [],
    mismatched: [],
    ignored: [],
  };
  const matched: Array<{ name: string; tensor: SafetensorsTensor; variable: tf.Variable }> = [];
  for (const [name, tensor] of file.tensors) {
    if (ignore.some((pattern) => pattern.test(name))) {
      report.ignored.push(name);
      continue;
    }
    const variable = variables.get(name);
    if (!variable) {
      report.unexpected.push(name);
      continue;
    }
    const permutation = layout === 'torch' ? torchPermutation(tensor.shape.length) : undefined;
    const converted = permutation
      ? permutation.map((axis) => tensor.shape[axis] as number)
      : tensor.shape;
    const sameShape =
      converted.length === variable.shape.length &&
      converted.every((dim, axis) => dim === variable.shape[axis]);
    if (!sameShape || tensor.dtype !== variable.dtype) {
      report.mismatched.push({
        name,
        expected: [...variable.shape],
        actual: converted,
        stored: tensor.shape,
      });
      continue;
    }
    matched.push({ name, tensor, variable });
  }
  for (const name of variables.keys()) {
    if (!file.tensors.has(name)) report.missing.push(name);
  }
  const strict = options.strict ?? true;
  const problems = report.missing.length + report.unexpected.length + report.mismatched.length > 0;
  if (strict && problems) {
    const lines = [`Cannot load weights from ${label} (strict):`];
    if (report.missing.length > 0) lines.push(listLine('missing in the file', report.missing));
    if (report.unexpected.length > 0) {
      lines.push(listLine('unexpected in the file', report.unexpected));
    }
    if (report.mismatched.length > 0) {
      const described = report.mismatched.map((m) => {
        const stored = `[${m.stored.join(', ')}]`;
        const converted = m.actual === m.stored ? '' : ` (as [${m.actual.join(', ')}])`;
        return `${m.name}: file ${stored}${converted}, model [${m.expected.join(', ')}]`;
      });
      lines.push(listLine('shape or dtype mismatch', described));
    }
    lines.push('Pass { strict: false } to load the tensors that match and get these lists back.');
    throw new Error(lines.join('\n'));
  }
  for (const { name, tensor, variable } of matched) {
    const permutation = layout === 'torch' ? torchPermutation(tensor.shape.length) : undefined;
    tf.tidy(() => {
      const value = tf.tensor(tensor.values, tensor.shape, tensor.dtype);
      variable.assign(permutation ? tf.transpose(value, permutation) : value);
    });
    report.loaded.push(name);
  }
  return report;
}

/**
 * Loads a torchvision `state_dict` saved as safetensors (torchvision's own key names,
 * OIHW conv filters, [out, in] linear weights) into a det model whose parameter names are
 * torchvision's: a name-for-name copy with the layout transposes. `num_batches_tracked`
 * and the classifier `fc.*` are ignored by default (see `torchvisionIgnoredKeys`).
 */
export function loadTorchvisionWeights(
  target: WeightTarget,
  source: WeightSource,
  options: LoadWeightsOptions = {},
): Promise<LoadWeightsReport> {
  return loadInto(
    target,
    source,
    { ...options, ignore: options.ignore ?? torchvisionIgnoredKeys },
    'torch',
  );
}

/** Loads a checkpoint written by `saveWeights` (det layout, names relative to the store's scope). */
export function loadWeights(
  target: WeightTarget,
  source: WeightSource,
  options: LoadWeightsOptions = {},
): Promise<LoadWeightsReport> {
  return loadInto(target, source, options, 'det');
}

/** The safetensors bytes of every variable under the store's scope, by relative name. */
export async function serializeWeights(
  target: WeightTarget,
  options: { metadata?: Record<string, string> } = {},
): Promise<Uint8Array> {
  const tensors: Array<[string, SafetensorsInput]> = [];
  for (const [name, variable] of relativeEntries(storeOf(target))) {
    const data = await variable.data();
    let values: Float32Array | Int32Array;
    if (variable.dtype === 'float32') values = new Float32Array(data as Float32Array);
    else if (variable.dtype === 'int32') values = new Int32Array(data as Int32Array);
    else
      throw new Error(`Cannot save parameter '${name}': dtype ${variable.dtype} is not supported`);
    tensors.push([name, { shape: [...variable.shape], values }]);
  }
  return serializeSafetensors(tensors, options.metadata);
}

/**
 * Writes a file atomically: a temporary file beside the target (pid + random suffix) is
 * renamed over it, so a crash or a concurrent writer never leaves a half-written file. The
 * one atomic writer of det's checkpoints.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
  what = 'file',
): Promise<void> {
  const { writeFile, rename, unlink } = await importNodeBuiltin<typeof FsPromises>(
    'node:fs/promises',
    `writing ${what} to ${path}`,
  );
  const { randomBytes } = await importNodeBuiltin<typeof Crypto>('node:crypto', `writing ${what}`);
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new Error(
      `Cannot write ${what} to ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/**
 * Writes every variable of the model as a safetensors checkpoint, atomically: a temporary
 * file beside the target is renamed over it, so a crash never leaves a half-written file.
 */
export async function saveWeights(
  target: WeightTarget,
  path: string,
  options: { metadata?: Record<string, string> } = {},
): Promise<void> {
  const bytes = await serializeWeights(target, options);
  await writeFileAtomic(path, bytes, 'weights');
}
