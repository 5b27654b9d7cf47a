import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDetectorConfig } from '@det/detectors';
import { readProposalsFile } from '@det/detectors/node';
import { checkpointFiles } from '@det/train';
import {
  type CommandIo,
  checkpointOf,
  detectorFrom,
  type RunConfig,
  readRunConfig,
  runPaths,
  startBackend,
  trainCommand,
} from '@det/trainer';

/** The fine-tune's knobs: Guided Anchoring §3.4 / §4.2 defaults. */
export interface FineTuneSettings {
  /** Epochs over the training images (paper: 3). */
  epochs: number;
  /**
   * Rate of the first epoch at the checkpoint's `train.baseBatchSize` images per step (scaled
   * linearly to `batchSize`); default the checkpoint's own `train.baseLr` (mmdetection's Faster
   * R-CNN: 0.02, the paper's).
   */
  lr?: number;
  /** Factor per epoch (paper: 0.1: 0.02, 0.002, 0.0002). */
  gamma: number;
  warmupIters: number;
  /** RoI assigner: IoU ≥ pos positive, < neg negative (paper: higher for GA-RPN proposals). */
  posIou?: number;
  negIou?: number;
  minPosIou?: number;
  /** RoIs sampled per image (paper: fewer for GA-RPN proposals) and their positive fraction. */
  roiSamples?: number;
  positiveFraction?: number;
  /** Proposals per image taken from the file (default all of it). */
  maxProposals?: number;
}

export const defaultFineTune: FineTuneSettings = { epochs: 3, gamma: 0.1, warmupIters: 0 };

/**
 * The run config of a fine-tune: the checkpoint's detector with its proposal source replaced
 * by precomputed proposals (RPN dropped), the RoI sampler's thresholds and sample count as
 * given, and `epochs` epochs of `trainImages` images with the rate ×`gamma` at each epoch
 * boundary. A checkpoint that is not two-stage (Faster or Fast R-CNN) is refused.
 */
export function fineTuneConfig(
  base: RunConfig,
  settings: FineTuneSettings,
  files: { train: string; val: string; trainImages: number },
  source = 'checkpoint',
): RunConfig {
  const detector = base.detector;
  if (detector.kind !== 'two-stage') {
    throw new Error(
      `${source}: fine-tuning needs a two-stage detector (Faster or Fast R-CNN); this one is single-stage with head.type '${detector.head.type}'`,
    );
  }
  if (!Number.isInteger(settings.epochs) || settings.epochs < 1)
    throw new Error(`--epochs ${settings.epochs}: must be an integer ≥ 1`);
  const train = detector.train;
  const perEpoch = Math.ceil(files.trainImages / train.batchSize);
  if (perEpoch < 1) throw new Error(`${files.train}: no training images`);
  const assigner = {
    ...detector.roi.assigner,
    ...(settings.posIou !== undefined ? { posIouThreshold: settings.posIou } : {}),
    ...(settings.negIou !== undefined ? { negIouThreshold: settings.negIou } : {}),
    ...(settings.minPosIou !== undefined
      ? { minPosIou: settings.minPosIou }
      : settings.posIou !== undefined
        ? { minPosIou: settings.posIou }
        : {}),
  };
  const config = parseDetectorConfig(
    {
      ...detector,
      proposals: {
        type: 'precomputed',
        ...(settings.maxProposals !== undefined ? { maxPerImage: settings.maxProposals } : {}),
      },
      roi: {
        ...detector.roi,
        assigner,
        ...(settings.roiSamples !== undefined ? { sampleSize: settings.roiSamples } : {}),
        ...(settings.positiveFraction !== undefined
          ? { positiveFraction: settings.positiveFraction }
          : {}),
      },
      train: {
        ...train,
        baseLr: settings.lr ?? train.baseLr,
        warmupIters: settings.warmupIters,
        maxIters: settings.epochs * perEpoch,
        steps: Array.from({ length: settings.epochs - 1 }, (_, epoch) => (epoch + 1) * perEpoch),
        gamma: settings.gamma,
      },
    },
    `${source} (fine-tune)`,
  );
  // No `preset`: a preset name would rebuild the detector from the preset under these fields.
  return {
    detector: config,
    data: {
      ...base.data,
      trainImages: files.trainImages,
      proposals: { train: files.train, val: files.val },
    },
    run: {
      ...base.run,
      evalInterval: 0,
      checkpointInterval: Math.min(base.run.checkpointInterval, perEpoch),
      lrPolicy: 'step',
      timeSeconds: undefined,
    },
  };
}

export interface FineTuneOptions extends Partial<FineTuneSettings> {
  run?: string;
  checkpoint?: string;
  runsDir: string;
  /** Proposals of the training images (COCO results style, e.g. `train.top300.json`). */
  proposals: string;
  /** Proposals of the validation images the run evaluates with. */
  valProposals: string;
  name: string;
  /** Validation images evaluated (default the checkpoint run's `data.valImages`). */
  valImages?: number;
  /** `--set key=value` on the fine-tune's run config (as `det train --set`). */
  set?: string[];
}

/** The fine-tune's config and the checkpoint it starts from, validated against its weights. */
export async function prepareFineTune(
  options: FineTuneOptions,
  log: (line: string) => void,
): Promise<{ config: RunConfig; checkpoint: string }> {
  const { file } = checkpointOf(options);
  const { config: base } = await readRunConfig(file);
  // Every training image has proposals (and only those): the file sets the epoch length.
  const trainImages = readProposalsFile(options.proposals).size;
  const config = fineTuneConfig(
    {
      ...base,
      data: { ...base.data, ...(options.valImages ? { valImages: options.valImages } : {}) },
    },
    { ...defaultFineTune, ...definedOnly(options) },
    { train: options.proposals, val: options.valProposals, trainImages },
    file,
  );
  // The architecture check: the fine-tune model's every parameter from the checkpoint.
  (await detectorFrom(config.detector, file, log)).dispose();
  return { config, checkpoint: file };
}

function definedOnly(options: Partial<FineTuneSettings>): Partial<FineTuneSettings> {
  const keys: (keyof FineTuneSettings)[] = [
    'epochs',
    'lr',
    'gamma',
    'warmupIters',
    'posIou',
    'negIou',
    'minPosIou',
    'roiSamples',
    'positiveFraction',
    'maxProposals',
  ];
  return Object.fromEntries(
    keys.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]),
  );
}

/**
 * `det-finetune finetune`: a `det train` run (`<runs>/<name>`: logs, checkpoints, evaluation,
 * report) of the checkpoint's detector on precomputed proposals, initialised from the
 * checkpoint; a killed run resumes from its last checkpoint on the same command.
 */
export async function fineTuneCommand(options: FineTuneOptions, io: CommandIo): Promise<number> {
  const directory = join(options.runsDir, options.name);
  const paths = runPaths(directory);
  const resuming = existsSync(checkpointFiles(paths.last).tensors);
  let checkpoint: string | undefined;
  const configFile = join(directory, 'finetune-config.json');
  if (!resuming) {
    await startBackend(io.log);
    const prepared = await prepareFineTune(options, io.log);
    checkpoint = prepared.checkpoint;
    await mkdir(directory, { recursive: true });
    await writeFile(configFile, `${JSON.stringify(prepared.config, null, 2)}\n`);
    const train = prepared.config.detector.train;
    io.log(
      `fine-tuning ${checkpoint} on ${options.proposals}: ${train.maxIters} iterations (${options.epochs ?? defaultFineTune.epochs} epochs), lr ${(train.baseLr * train.batchSize) / train.baseBatchSize} ×${train.gamma} at ${train.steps.join(', ') || '–'}`,
    );
  }
  return trainCommand(
    {
      config: configFile,
      name: options.name,
      runsDir: options.runsDir,
      resume: true,
      strictProposals: true,
      ...(checkpoint ? { loadFrom: checkpoint } : {}),
      ...(options.set ? { set: options.set } : {}),
    },
    io,
  );
}

/** Whether a run's last checkpoint reached its `train.maxIters` (a finished run). */
export async function runFinished(directory: string): Promise<boolean> {
  const sidecar = checkpointFiles(runPaths(directory).last).sidecar;
  const config = runPaths(directory).config;
  if (!existsSync(sidecar) || !existsSync(config)) return false;
  const { state } = JSON.parse(await readFile(sidecar, 'utf8')) as {
    state: { iteration: number };
  };
  const { detector } = JSON.parse(await readFile(config, 'utf8')) as RunConfig;
  return state.iteration >= detector.train.maxIters;
}
