import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { CocoResult } from '@det/coco-eval';
import { summarizeReport } from '@det/data';
import { createDetector, type DetectorBatch } from '@det/detectors';
import {
  checkpointFiles,
  engineOptionsOf,
  type JsonValue,
  type TrainingHook,
  trainerFor,
  trainLoop,
} from '@det/train';
import { writeModelPictures } from './artifacts';
import { startBackend } from './backend';
import { loadSplit, loadSplitProposals, numClassesOf, trainingData } from './datasets';
import { evaluateDetector } from './evaluation';
import { jsonLinesLogHook } from './log-hook';
import { initialiseFrom } from './model';
import { progressHook } from './progress';
import { buildReport } from './report';
import {
  bestMetricOf,
  isProposalDetector,
  proposalFilesOf,
  type RunConfig,
  resolveRunConfig,
} from './run-config';
import {
  allocateRunDirectory,
  appendMetricsRow,
  clearRunLogs,
  pruneAfter,
  runPaths,
} from './run-folder';

export interface TrainCommandOptions {
  config?: string;
  preset?: string;
  set?: string[];
  name?: string;
  resume?: boolean;
  time?: number;
  runsDir: string;
  /** Overrides the data section: a COCO annotation file and image folder for both splits. */
  annotations?: string;
  images?: string;
  valAnnotations?: string;
  valImages?: string;
  lenient?: boolean;
  /** Precomputed proposals (Fast R-CNN) of the training split, and of the validation split. */
  proposals?: string;
  valProposals?: string;
  /**
   * Initial weights of a fresh run from this checkpoint (mmdetection's `load_from`): every
   * parameter of the model must be there with its shape; the checkpoint's others (e.g. the RPN
   * of a Faster R-CNN loaded into its Fast R-CNN) are dropped and counted. Ignored on resume.
   */
  loadFrom?: string;
  /** Precomputed proposals must name only images of their split (default: others ignored). */
  strictProposals?: boolean;
}

export interface CommandIo {
  log: (line: string) => void;
  interactive: boolean;
}

/** `det train`: returns the process exit code (0 done or interrupted with a checkpoint). */
export async function trainCommand(options: TrainCommandOptions, io: CommandIo): Promise<number> {
  const started = performance.now();
  const stamp = () => `[${((performance.now() - started) / 1000).toFixed(0)}s]`;
  const name =
    options.name ??
    options.preset ??
    (options.config ? basename(options.config).replace(/\.json$/, '') : 'train');
  const directory = allocateRunDirectory(options.runsDir, name, options.resume === true);
  const paths = runPaths(directory);
  const resuming = options.resume === true && existsSync(checkpointFiles(paths.last).tensors);
  const settings = [...(options.set ?? [])];
  if (options.annotations)
    settings.push(
      `data.train=${JSON.stringify({ annotationFile: options.annotations, imageRoot: options.images ?? '.' })}`,
    );
  if (options.valAnnotations || options.annotations)
    settings.push(
      `data.val=${JSON.stringify({ annotationFile: options.valAnnotations ?? options.annotations, imageRoot: options.valImages ?? options.images ?? '.' })}`,
    );
  if (options.lenient) settings.push('data.lenient=true');
  if (options.proposals) settings.push(`data.proposals.train=${JSON.stringify(options.proposals)}`);
  if (options.valProposals)
    settings.push(`data.proposals.val=${JSON.stringify(options.valProposals)}`);
  const saved = resuming
    ? (JSON.parse(await readFile(paths.config, 'utf8')) as RunConfig)
    : undefined;
  const config = await resolveRunConfig(
    {
      ...(options.preset ? { preset: options.preset } : {}),
      ...(options.config ? { configFile: options.config } : {}),
      ...(saved ? { saved } : {}),
      settings,
    },
    numClassesOf,
  );
  const proposalFiles = proposalFilesOf(config);
  await startBackend(io.log);
  const train = await loadSplit(config.data, 'train', config.data.trainImages);
  const val = await loadSplit(config.data, 'val', config.data.valImages);
  const trainProposals = proposalFiles
    ? loadSplitProposals(proposalFiles.train, train, 'the train split', {
        strict: options.strictProposals === true,
      })
    : undefined;
  const valProposals = proposalFiles
    ? loadSplitProposals(proposalFiles.val, val, 'the val split', {
        strict: options.strictProposals === true,
      })
    : undefined;
  if (!resuming) await clearRunLogs(paths);
  await mkdir(directory, { recursive: true });
  await writeFile(paths.config, `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(
    paths.dataReport,
    `${JSON.stringify({ train: train.dataset.report, val: val.dataset.report }, null, 2)}\n`,
  );
  for (const [split, loaded] of [
    ['train', train],
    ['val', val],
  ] as const) {
    if (loaded.dataset.report.skippedImages + loaded.dataset.report.skippedAnnotations > 0)
      io.log(`${split}: ${summarizeReport(loaded.dataset.report)}`);
  }
  const detector = createDetector(config.detector);
  if (options.loadFrom && !resuming) {
    try {
      await initialiseFrom(detector, options.loadFrom, io.log);
    } catch (error) {
      detector.dispose();
      throw error;
    }
  }
  const trainSettings = {
    ...config.detector.train,
    policy: config.run.lrPolicy,
    minLr: config.run.minLr,
  };
  const trainer = trainerFor(detector, trainSettings);
  const proposals = isProposalDetector(config.detector);
  const timeBudget = options.time ?? config.run.timeSeconds;
  io.log(
    `${stamp()} run ${directory}: ${config.detector.kind}${config.preset ? ` (${config.preset})` : ''}, ${detector.parameters.count()} parameters, ${train.dataset.records.length} training / ${val.dataset.records.length} validation images` +
      (resuming ? `; resuming from ${checkpointFiles(paths.last).tensors}` : '') +
      (timeBudget ? `; ${timeBudget} s budget` : ''),
  );
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // A second Ctrl-C: leave now; the last checkpoint on disk is whole (temp + rename).
      io.log(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    io.log(`${signal}: stopping after this step and writing a checkpoint (again to exit now)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let lastResults: CocoResult[] = [];
  let pruned = false;
  const logHook: TrainingHook<DetectorBatch> = {
    ...jsonLinesLogHook(paths.log),
    async beforeStep(context) {
      if (pruned) return;
      pruned = true;
      if (resuming) await pruneAfter(paths, context.trainer.iteration);
    },
    afterCheckpoint(_, file, kind) {
      if (kind === 'best') io.log(`${stamp()} new best checkpoint: ${file}`);
    },
  };
  try {
    const outcome = await trainLoop({
      trainer,
      data: trainingData(train.dataset, {
        batchSize: trainSettings.batchSize,
        seed: trainSettings.seed,
        proposals: trainProposals,
      }),
      optimizerOptions: engineOptionsOf(trainSettings).optimizer,
      maxIters: trainSettings.maxIters,
      ...(timeBudget !== undefined ? { timeBudgetSeconds: timeBudget } : {}),
      checkpoint: {
        directory: paths.checkpoints,
        interval: config.run.checkpointInterval,
        config: config as unknown as JsonValue,
      },
      resume: resuming,
      evaluation: {
        interval: config.run.evalInterval,
        bestMetric: bestMetricOf(config),
        evaluate: async (context) => {
          io.log(
            `${stamp()} evaluating ${val.dataset.records.length} validation images at iteration ${context.trainer.iteration}`,
          );
          const { details, results } = await evaluateDetector(detector, val, {
            proposals,
            iteration: context.trainer.iteration,
            precomputed: valProposals,
          });
          lastResults = results;
          await mkdir(paths.evals, { recursive: true });
          await writeFile(
            join(paths.evals, `iteration-${String(details.iteration).padStart(7, '0')}.json`),
            `${JSON.stringify(details)}\n`,
          );
          await appendMetricsRow(paths.metrics, {
            iteration: details.iteration,
            seconds: Number(context.elapsedSeconds.toFixed(1)),
            ...details.metrics,
          });
          io.log(details.lines.join('\n'));
          return details.metrics;
        },
      },
      hooks: [
        logHook,
        progressHook({
          interactive: io.interactive,
          interval: config.run.logInterval,
          log: io.log,
        }),
      ],
      signal: controller.signal,
    });
    if (outcome.nonFinite) {
      io.log(`error: ${outcome.nonFinite.message}`);
      return 3;
    }
    const reason = {
      'max-iters': `reached maxIters ${trainSettings.maxIters}`,
      'time-budget': `used the ${timeBudget} s budget (rerun with --resume to train further; --time adds budget)`,
      interrupted: 'interrupted (rerun with --resume to continue)',
      'data-exhausted': 'ran out of data',
      'non-finite-loss': '',
    }[outcome.stopped];
    io.log(
      `${stamp()} ${outcome.resumedFrom > 0 ? `resumed at ${outcome.resumedFrom}, ` : ''}trained to iteration ${outcome.iterations}: ${reason}; ${outcome.elapsedSeconds.toFixed(0)} s in total over all sessions (training and evaluation)`,
    );
    if (
      outcome.stopped !== 'interrupted' &&
      outcome.lastMetrics === undefined &&
      outcome.resumedFrom === outcome.iterations
    ) {
      io.log(
        `nothing to train: the run is at maxIters ${trainSettings.maxIters} (raise it with --set train.maxIters=N)`,
      );
    }
    if (outcome.stopped !== 'interrupted') {
      if (lastResults.length > 0 || outcome.lastMetrics)
        await writeModelPictures({
          directory,
          detector,
          split: val,
          results: lastResults,
          images: config.run.reportImages,
        });
    }
    const report = await buildReport(directory);
    io.log(`checkpoints: ${paths.checkpoints}`);
    io.log(`report: ${report}`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    trainer.dispose();
    detector.dispose();
  }
}
