import { join } from 'node:path';
import { type CommandIo, trainCommand } from '@det/trainer';
import { type CompareRow, compareCommand } from './compare';
import { fineTuneCommand, runFinished } from './finetune';
import { proposalsCommand } from './proposals';
import { mergedFile } from './shards';

/** `det-finetune all`'s budget: tiny presets on the embedded synthetic data. */
export interface AllOptions {
  runsDir: string;
  /** Experiment folder under the runs folder (proposals, fine-tunes, table). */
  name: string;
  /** Iterations of the tiny Faster R-CNN (`tiny-faster-rcnn`) and GA-RPN (`tiny-ga-rpn`). */
  detectorIters: number;
  gaRpnIters: number;
  /** Training images the proposals and fine-tunes use (the first N) and val images evaluated. */
  trainImages: number;
  valImages: number;
  epochs: number;
  /** Merged proposal files per image; the fine-tunes use the smallest. */
  top: number[];
  /** The GA-RPN fine-tune's RoI sampler (paper: higher IoU, fewer samples). */
  gaIou: number;
  gaRoiSamples: number;
}

export const defaultAll: Omit<AllOptions, 'runsDir'> = {
  name: 'table3',
  detectorIters: 50,
  gaRpnIters: 30,
  trainImages: 16,
  valImages: 16,
  epochs: 3,
  top: [300, 1000],
  gaIou: 0.6,
  gaRoiSamples: 64,
};

async function trainIfNeeded(
  options: AllOptions,
  run: string,
  preset: string,
  iterations: number,
  io: CommandIo,
): Promise<void> {
  if (await runFinished(join(options.runsDir, run))) {
    io.log(`== ${run}: trained already (${join(options.runsDir, run)})`);
    return;
  }
  io.log(`== training ${run} (${preset}, ${iterations} iterations; resumes when rerun)`);
  const code = await trainCommand(
    {
      preset,
      name: run,
      runsDir: options.runsDir,
      resume: true,
      set: [
        `train.maxIters=${iterations}`,
        `train.warmupIters=${Math.min(50, Math.floor(iterations / 5))}`,
        `train.steps=[${Math.floor(iterations * 0.8)}]`,
        `data.valImages=${options.valImages}`,
        'run.checkpointInterval=50',
        'run.reportImages=4',
      ],
    },
    io,
  );
  if (code !== 0) throw new Error(`training ${run} stopped with exit code ${code}`);
  if (!(await runFinished(join(options.runsDir, run))))
    throw new Error(`${run}: interrupted before maxIters; rerun det-finetune all to continue`);
}

/**
 * `det-finetune all`: the whole flow on the embedded data with tiny presets — train the tiny
 * Faster R-CNN and GA-RPN (when their runs are not finished), GA-RPN and own-RPN proposals of
 * the first `trainImages` training and `valImages` val images, the two fine-tunes (GA-RPN
 * proposals with the paper's higher RoI IoU and fewer samples; RPN proposals with the
 * detector's own sampler), and the comparison. Every step skips or resumes finished work, so
 * a killed `all` continues where it stopped.
 */
export async function allCommand(options: AllOptions, io: CommandIo): Promise<CompareRow[]> {
  const started = performance.now();
  const stamp = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  const detectorRun = 'tiny-faster-rcnn';
  const gaRpnRun = 'tiny-ga-rpn';
  await trainIfNeeded(options, detectorRun, 'tinyFasterRcnn', options.detectorIters, io);
  await trainIfNeeded(options, gaRpnRun, 'tinyGaRpn', options.gaRpnIters, io);
  const experiment = join(options.runsDir, options.name);
  const sources = [
    { label: 'GA-RPN', folder: 'ga-rpn', run: gaRpnRun },
    { label: 'RPN', folder: 'rpn', run: detectorRun },
  ];
  for (const source of sources) {
    for (const split of ['train', 'val'] as const) {
      io.log(`== [${stamp()}] ${source.label} proposals of ${split}`);
      await proposalsCommand(
        {
          run: source.run,
          runsDir: options.runsDir,
          split,
          limit: split === 'train' ? options.trainImages : options.valImages,
          top: options.top,
          out: join(experiment, 'proposals', source.folder),
        },
        io,
      );
    }
  }
  const smallest = Math.min(...options.top);
  for (const source of sources) {
    const name = join(options.name, `finetune-${source.folder}`);
    if (await runFinished(join(options.runsDir, name))) {
      io.log(`== ${name}: fine-tuned already`);
      continue;
    }
    io.log(`== [${stamp()}] fine-tuning ${detectorRun} on ${source.label} proposals`);
    const folder = join(experiment, 'proposals', source.folder);
    const code = await fineTuneCommand(
      {
        run: detectorRun,
        runsDir: options.runsDir,
        name,
        proposals: mergedFile(folder, 'train', smallest),
        valProposals: mergedFile(folder, 'val', smallest),
        valImages: options.valImages,
        epochs: options.epochs,
        ...(source.label === 'GA-RPN'
          ? { posIou: options.gaIou, negIou: options.gaIou, roiSamples: options.gaRoiSamples }
          : {}),
        set: ['run.reportImages=4'],
      },
      io,
    );
    if (code !== 0)
      throw new Error(`fine-tuning on ${source.label} stopped with exit code ${code}`);
  }
  io.log(`== [${stamp()}] comparing`);
  const rows = await compareCommand(
    {
      runsDir: options.runsDir,
      before: detectorRun,
      beforeProposals: mergedFile(join(experiment, 'proposals', 'rpn'), 'val', smallest),
      after: sources.map(
        (source) => `${source.label}=${join(options.name, `finetune-${source.folder}`)}`,
      ),
      untouchedRows: true,
    },
    io,
  );
  io.log(`det-finetune all: done in ${stamp()} (this session)`);
  return rows;
}
