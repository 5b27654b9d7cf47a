import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createDetector,
  type Detector,
  type DetectorConfig,
  parseDetectorConfig,
} from '@det/detectors';
import {
  type Checkpoint,
  checkpointFiles,
  disposeCheckpoint,
  loadParameters,
  readCheckpoint,
} from '@det/train';
import { parseSetting, type RunConfig, setAt } from './run-config';
import { runPaths } from './run-folder';

export interface LoadedModel {
  detector: Detector;
  config: RunConfig;
  /** The checkpoint file read. */
  checkpoint: string;
  iteration: number;
  /** The run folder when the checkpoint is a run's. */
  runDirectory?: string;
}

/**
 * The checkpoint file of `--checkpoint FILE` or `--run NAME` (its best checkpoint, else last),
 * and the run folder when it is a run's.
 */
export function checkpointOf(options: { checkpoint?: string; run?: string; runsDir: string }): {
  file: string;
  runDirectory?: string;
} {
  if (options.checkpoint) return { file: options.checkpoint };
  if (!options.run) throw new Error('give --checkpoint FILE or --run NAME');
  const runDirectory = join(options.runsDir, options.run);
  const paths = runPaths(runDirectory);
  if (!existsSync(runDirectory)) throw new Error(`${runDirectory}: no such run`);
  const file = [paths.best, paths.last]
    .map((base) => checkpointFiles(base).tensors)
    .find(existsSync);
  if (!file) throw new Error(`${paths.checkpoints}: no checkpoint yet (train first)`);
  return { file, runDirectory };
}

/**
 * The run config a checkpoint was trained with: the one it holds, else the run folder's
 * `config.json` beside it, with `key=value` overrides of inference-only detector fields (`set`);
 * its detector config validated (errors name the file).
 */
export async function runConfigOf(
  saved: Checkpoint,
  set: readonly string[] = [],
): Promise<RunConfig> {
  let config = saved.config as unknown as RunConfig | null;
  if (!config?.detector) {
    // A checkpoint written with no run config: take the run folder's config.json beside it.
    const beside = join(saved.path, '..', '..', 'config.json');
    if (!existsSync(beside)) throw new Error(`${saved.path}: the checkpoint holds no run config`);
    config = JSON.parse(await readFile(beside, 'utf8')) as RunConfig;
  }
  const detectorInput = structuredClone(config.detector) as unknown as Record<string, unknown>;
  for (const text of set) {
    const { path, value } = parseSetting(text);
    if (path[0] !== 'detector')
      throw new Error(`--set ${text}: only detector fields can be overridden at inference`);
    setAt(detectorInput, path.slice(1), value);
  }
  const where = set.length
    ? `${saved.path} config.detector with --set`
    : `${saved.path} config.detector`;
  return { ...config, detector: parseDetectorConfig(detectorInput, where) };
}

/**
 * A detector from `--checkpoint FILE` or `--run NAME` (its best checkpoint, else last). The
 * checkpoint's config builds the model; a config of another architecture than the weights
 * names the first mismatched parameter.
 */
export async function loadModel(options: {
  checkpoint?: string;
  run?: string;
  runsDir: string;
  /**
   * `key=value` overrides of the detector config applied before the model is built: fields
   * that change inference only (e.g. `head.anchorScheme.locationThreshold=0.05`, MetaAnchor's
   * `head.anchorScheme.inferenceAnchors="5x5"`); one that changes the parameters fails loading.
   */
  set?: readonly string[];
}): Promise<LoadedModel> {
  const { file, runDirectory } = checkpointOf(options);
  const saved = await readCheckpoint(file);
  try {
    const config = await runConfigOf(saved, options.set);
    const detector = createDetector(config.detector);
    try {
      loadParameters(detector.parameters, saved.parameters, saved.path);
    } catch (error) {
      detector.dispose();
      throw error;
    }
    return {
      detector,
      config,
      checkpoint: saved.path,
      iteration: saved.state.iteration,
      ...(runDirectory ? { runDirectory } : {}),
    };
  } finally {
    disposeCheckpoint(saved);
  }
}

/**
 * Copies a checkpoint's weights into a fresh detector (`--load-from`); the checkpoint's
 * parameters the detector lacks are dropped and counted by their first name part.
 */
export async function initialiseFrom(
  detector: Detector,
  file: string,
  log: (line: string) => void,
): Promise<void> {
  const saved = await readCheckpoint(file);
  try {
    const dropped = loadParameters(detector.parameters, saved.parameters, saved.path, {
      ignoreUnused: true,
    });
    const groups = [...new Set(dropped.map((name) => name.split('.')[0]))];
    log(
      `initialised ${detector.parameters.entries().length} parameter tensors from ${saved.path} (iteration ${saved.state.iteration})` +
        (dropped.length > 0
          ? `; dropped ${dropped.length} the model does not have (${groups.map((group) => `${group}.*`).join(', ')})`
          : ''),
    );
  } finally {
    disposeCheckpoint(saved);
  }
}

/** A detector of `config` with a checkpoint's weights (`initialiseFrom`); disposed on failure. */
export async function detectorFrom(
  config: DetectorConfig,
  file: string,
  log: (line: string) => void,
): Promise<Detector> {
  const detector = createDetector(config);
  try {
    await initialiseFrom(detector, file, log);
  } catch (error) {
    detector.dispose();
    throw error;
  }
  return detector;
}

/** The run config a checkpoint file was trained with, its path and iteration (no weights kept). */
export async function readRunConfig(
  file: string,
): Promise<{ config: RunConfig; path: string; iteration: number }> {
  const saved = await readCheckpoint(file);
  try {
    return { config: await runConfigOf(saved), path: saved.path, iteration: saved.state.iteration };
  } finally {
    disposeCheckpoint(saved);
  }
}
