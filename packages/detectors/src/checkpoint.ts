import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { parseSafetensors, type SafetensorsInput, serializeSafetensors } from '@det/backbone';
import * as tf from '@tensorflow/tfjs-core';
import { type DetectorConfig, parseDetectorConfig } from './config';
import type { Detector } from './detector';
import type { Optimizer } from './sgd';

/** Where training stands: enough to resume exactly. */
export interface TrainingState {
  /** Iterations completed. */
  iteration: number;
  /** Data-loader position of the next batch (`@det/data`'s `LoaderPosition`). */
  dataPosition: { epoch: number; index: number };
}

export interface Checkpoint {
  config: DetectorConfig;
  state: TrainingState;
  /** Model parameters by name. */
  parameters: Map<string, tf.Tensor>;
  /** SGD momentum buffers by parameter name. */
  momentum: Map<string, tf.Tensor>;
}

const MODEL = 'model.';
const MOMENTUM = 'optimizer.momentum.';

async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new Error(
      `Cannot write ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

async function hostValues(tensor: tf.Tensor): Promise<SafetensorsInput> {
  const data = await tensor.data();
  const values =
    tensor.dtype === 'int32'
      ? new Int32Array(data as Int32Array)
      : new Float32Array(data as Float32Array);
  return { shape: [...tensor.shape], values };
}

/**
 * Writes `<path>` (safetensors: `model.*` parameters, `optimizer.momentum.*` buffers; the
 * config and training state in its metadata) and `<path>.json` (the config, for people and
 * tools), each atomically: a crash leaves the previous checkpoint intact.
 */
export async function saveCheckpoint(
  path: string,
  options: { detector: Detector; optimizer?: Optimizer; state: TrainingState },
): Promise<void> {
  const tensors: Array<[string, SafetensorsInput]> = [];
  for (const { name, variable } of options.detector.parameters.entries()) {
    tensors.push([`${MODEL}${name}`, await hostValues(variable)]);
  }
  for (const [name, buffer] of options.optimizer?.state() ?? []) {
    tensors.push([`${MOMENTUM}${name}`, await hostValues(buffer)]);
  }
  const metadata = {
    format: 'det-checkpoint',
    version: '1',
    config: JSON.stringify(options.detector.config),
    state: JSON.stringify(options.state),
  };
  await writeAtomically(path, serializeSafetensors(tensors, metadata));
  await writeAtomically(
    `${path}.json`,
    `${JSON.stringify({ config: options.detector.config, state: options.state }, null, 2)}\n`,
  );
}

/** Reads a checkpoint written by `saveCheckpoint`; the caller disposes the tensors (`disposeCheckpoint`). */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const file = parseSafetensors(new Uint8Array(await readFile(path)), path);
  const { config, state } = file.metadata;
  if (file.metadata.format !== 'det-checkpoint' || config === undefined || state === undefined) {
    throw new Error(
      `${path}: not a det checkpoint (metadata.format=${String(file.metadata.format)})`,
    );
  }
  const parameters = new Map<string, tf.Tensor>();
  const momentum = new Map<string, tf.Tensor>();
  for (const [name, tensor] of file.tensors) {
    const value = tf.tensor(tensor.values, tensor.shape, tensor.dtype);
    if (name.startsWith(MODEL)) parameters.set(name.slice(MODEL.length), value);
    else if (name.startsWith(MOMENTUM)) momentum.set(name.slice(MOMENTUM.length), value);
    else {
      value.dispose();
      throw new Error(`${path}: unexpected tensor '${name}'`);
    }
  }
  return {
    config: parseDetectorConfig(JSON.parse(config), `${path} metadata.config`),
    state: JSON.parse(state) as TrainingState,
    parameters,
    momentum,
  };
}

/** Copies a checkpoint's parameters into a detector built from the same config. */
export function loadParameters(
  detector: Detector,
  checkpoint: Checkpoint,
  source = 'checkpoint',
): void {
  const entries = detector.parameters.entries();
  const missing = entries
    .filter((entry) => !checkpoint.parameters.has(entry.name))
    .map((entry) => entry.name);
  if (missing.length > 0) {
    throw new Error(
      `${source}: missing parameters ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
    );
  }
  for (const { name, variable } of entries) {
    const value = checkpoint.parameters.get(name)!;
    if (value.shape.join() !== variable.shape.join()) {
      throw new Error(
        `${source}: parameter ${name} has shape [${value.shape}], the model [${variable.shape}]`,
      );
    }
    variable.assign(value);
  }
}

export function disposeCheckpoint(checkpoint: Checkpoint): void {
  tf.dispose([...checkpoint.parameters.values(), ...checkpoint.momentum.values()]);
}
