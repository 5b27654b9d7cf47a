import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  parseSafetensors,
  type SafetensorsInput,
  serializeSafetensors,
  writeFileAtomic,
} from '@det/backbone';
import type { ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerOptions, OptimizerState } from './optimizer';
import type { ScheduleOptions } from './schedule';
import type { JsonValue } from './trainable';

/** Where training stands: everything besides the tensors that an exact resume needs. */
export interface TrainingState {
  /** Iterations completed (= the schedule position). */
  iteration: number;
  /** The data source's position of the next batch. */
  dataPosition: JsonValue;
  /** The model's random generators (`Trainable.randomState`), when it has any. */
  modelRandomState?: JsonValue;
  /** Seconds spent training so far, over every resumed session. */
  elapsedSeconds: number;
  optimizer: OptimizerOptions & { step: number };
  schedule: ScheduleOptions;
  /** The best evaluation so far (by the loop's `bestMetric`). */
  best?: { metric: string; value: number; iteration: number };
}

export interface Checkpoint {
  /** The file it was read from (errors name it). */
  path: string;
  /** The caller's config saved with it (e.g. the resolved detector config). */
  config: JsonValue;
  state: TrainingState;
  /** Model parameters by name. */
  parameters: Map<string, tf.Tensor>;
  /** The optimizer's state under its own names. */
  optimizer: OptimizerState;
}

const FORMAT = 'det-checkpoint';
const VERSION = '2';
const MODEL = 'model.';
const OPTIMIZER = 'optimizer.';

async function hostValues(tensor: tf.Tensor): Promise<SafetensorsInput> {
  const data = await tensor.data();
  const values =
    tensor.dtype === 'int32'
      ? new Int32Array(data as Int32Array)
      : new Float32Array(data as Float32Array);
  return { shape: [...tensor.shape], values };
}

/** SHA-256 over every tensor's name, shape and bytes in order (independent of the file layout). */
function tensorsChecksum(tensors: Iterable<[string, SafetensorsInput]>): string {
  const hash = createHash('sha256');
  for (const [name, tensor] of tensors) {
    hash.update(`${name}:${tensor.shape.join('x')}:`);
    hash.update(
      new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength),
    );
  }
  return hash.digest('hex');
}

/** `<base>.safetensors` and its `<base>.json` sidecar. */
export function checkpointFiles(base: string): { tensors: string; sidecar: string } {
  const stem = base.endsWith('.safetensors') ? base.slice(0, -'.safetensors'.length) : base;
  return { tensors: `${stem}.safetensors`, sidecar: `${stem}.json` };
}

/**
 * Writes `<base>.safetensors` (`model.<parameter>` and `optimizer.<slot>.<parameter>` tensors;
 * config, training state and a SHA-256 of the tensors in its metadata) and the `<base>.json`
 * sidecar (the same config and state plus the file's SHA-256, for people and tools), each
 * through temp + rename. The safetensors file is self-checking on its own; the sidecar is
 * written second, so after a crash between the two it may describe the previous checkpoint.
 */
export async function saveCheckpoint(
  base: string,
  options: {
    parameters: ParameterStore;
    optimizer: OptimizerState;
    state: TrainingState;
    config?: JsonValue;
  },
): Promise<void> {
  const files = checkpointFiles(base);
  const tensors: Array<[string, SafetensorsInput]> = [];
  for (const { name, variable } of options.parameters.entries())
    tensors.push([`${MODEL}${name}`, await hostValues(variable)]);
  for (const [name, slot] of options.optimizer.slots)
    tensors.push([`${OPTIMIZER}${name}`, await hostValues(slot)]);
  const config = options.config ?? null;
  const checksum = tensorsChecksum(tensors);
  const bytes = serializeSafetensors(tensors, {
    format: FORMAT,
    version: VERSION,
    config: JSON.stringify(config),
    state: JSON.stringify(options.state),
    tensors_sha256: checksum,
  });
  await writeFileAtomic(files.tensors, bytes, 'checkpoint');
  const sidecar = {
    format: FORMAT,
    version: VERSION,
    file: files.tensors.slice(files.tensors.lastIndexOf('/') + 1),
    bytes: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    tensors_sha256: checksum,
    state: options.state,
    config,
  };
  await writeFileAtomic(
    files.sidecar,
    `${JSON.stringify(sidecar, null, 2)}\n`,
    'checkpoint sidecar',
  );
}

function parseJsonField(path: string, name: string, text: string | undefined): JsonValue {
  if (text === undefined)
    throw new Error(`${path}: corrupt checkpoint: metadata '${name}' missing`);
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new Error(
      `${path}: corrupt checkpoint: metadata '${name}' is not JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/**
 * Reads and verifies a checkpoint written by `saveCheckpoint`: a truncated or corrupt file
 * throws an error naming it (and the tensor at fault, or the checksum). The caller disposes
 * the tensors (`disposeCheckpoint`).
 */
export async function readCheckpoint(base: string): Promise<Checkpoint> {
  const path = checkpointFiles(base).tensors;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    throw new Error(
      `${path}: cannot read checkpoint (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  let file: ReturnType<typeof parseSafetensors>;
  try {
    file = parseSafetensors(bytes, path);
  } catch (error) {
    throw new Error(
      `corrupt or truncated checkpoint: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const { metadata } = file;
  if (metadata.format !== FORMAT) {
    throw new Error(`${path}: not a det checkpoint (metadata.format=${String(metadata.format)})`);
  }
  if (metadata.version !== VERSION) {
    throw new Error(
      `${path}: checkpoint version ${String(metadata.version)}; this @det/train reads version ${VERSION}`,
    );
  }
  const entries: Array<[string, SafetensorsInput]> = [...file.tensors].map(([name, tensor]) => [
    name,
    { shape: tensor.shape, values: tensor.values },
  ]);
  const checksum = tensorsChecksum(entries);
  if (checksum !== metadata.tensors_sha256) {
    throw new Error(
      `${path}: corrupt checkpoint: tensor checksum ${checksum.slice(0, 12)}… does not match the recorded ${String(metadata.tensors_sha256).slice(0, 12)}…`,
    );
  }
  const state = parseJsonField(path, 'state', metadata.state) as unknown as TrainingState;
  const config = parseJsonField(path, 'config', metadata.config);
  const parameters = new Map<string, tf.Tensor>();
  const slots = new Map<string, tf.Tensor>();
  for (const [name, tensor] of file.tensors) {
    const value = tf.tensor(tensor.values, tensor.shape, tensor.dtype);
    if (name.startsWith(MODEL)) parameters.set(name.slice(MODEL.length), value);
    else if (name.startsWith(OPTIMIZER)) slots.set(name.slice(OPTIMIZER.length), value);
    else {
      tf.dispose([value, ...parameters.values(), ...slots.values()]);
      throw new Error(`${path}: unexpected tensor '${name}'`);
    }
  }
  return {
    path,
    config,
    state,
    parameters,
    optimizer: { kind: state.optimizer.kind, step: state.optimizer.step, slots },
  };
}

/**
 * Copies checkpoint parameters into `store`; a checkpoint of another architecture is refused
 * naming the first parameter (in the model's order) that is missing or has another shape, or
 * the first one the model does not have. `ignoreUnused` (mmdetection's `load_from` into a
 * smaller model, e.g. a Faster R-CNN checkpoint into its Fast R-CNN without the RPN) accepts
 * checkpoint parameters the model lacks and returns their names; every model parameter must
 * still be there with its shape.
 */
export function loadParameters(
  store: ParameterStore,
  parameters: ReadonlyMap<string, tf.Tensor>,
  source = 'checkpoint',
  options: { ignoreUnused?: boolean } = {},
): string[] {
  const entries = store.entries();
  for (const { name, variable } of entries) {
    const value = parameters.get(name);
    if (!value) {
      throw new Error(
        `${source}: the model's parameter '${name}' [${variable.shape}] is not in the checkpoint (another architecture?)`,
      );
    }
    if (value.shape.join() !== variable.shape.join()) {
      throw new Error(
        `${source}: parameter '${name}' is [${value.shape}] in the checkpoint but [${variable.shape}] in the model (another architecture?)`,
      );
    }
  }
  const known = new Set(entries.map((entry) => entry.name));
  const unused = [...parameters.keys()].filter((name) => !known.has(name));
  if (unused.length > 0 && options.ignoreUnused !== true) {
    throw new Error(
      `${source}: the checkpoint's parameter '${unused[0]}' is not in the model (another architecture?)`,
    );
  }
  for (const { name, variable } of entries) variable.assign(parameters.get(name)!);
  return unused;
}

export function disposeCheckpoint(checkpoint: Checkpoint): void {
  tf.dispose([...checkpoint.parameters.values(), ...checkpoint.optimizer.slots.values()]);
}
