import { statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import type { DetectionRecord } from '@det/data';
import {
  type AnchorSearchData,
  exportDetector,
  predictDataset,
  searchAnchorConfiguration,
} from '@det/detectors';
import sharp from 'sharp';
import { startBackend } from './backend';
import { evaluationLoader, loadSplit, loadSplitProposals } from './datasets';
import { drawRecords } from './draw';
import { countAnchorsPerImage, evaluateDetector, timeHeadPaths } from './evaluation';
import { loadModel } from './model';
import { buildReport } from './report';
import { isProposalDetector, proposalFilesOf, type RunConfig } from './run-config';
import type { CommandIo } from './train-command';

export interface ModelOptions {
  checkpoint?: string;
  run?: string;
  runsDir: string;
}

/** The run's data section with `--proposals FILE` (if given) as the proposals of every split. */
function withProposals(data: RunConfig['data'], file: string | undefined): RunConfig['data'] {
  return file ? { ...data, proposals: { train: file, val: file } } : data;
}

function splitOverride(options: { annotations?: string; images?: string; lenient?: boolean }) {
  return options.annotations
    ? { annotationFile: options.annotations, imageRoot: options.images ?? '.' }
    : undefined;
}

/** `det eval`: pycocotools' table, per-class AP (proposal AR for proposal detectors). */
export async function evalCommand(
  options: ModelOptions & {
    split: 'train' | 'val';
    limit?: number;
    annotations?: string;
    images?: string;
    lenient?: boolean;
    proposals?: string;
    out?: string;
    /** Inference-time overrides of the detector config (`--set`). */
    set?: string[];
    /** Also count anchors per image of the dense head. */
    countAnchors?: boolean;
    /** Also time GA's masked vs dense head on this many batches (GA Table 5). */
    timeHead?: number;
  },
  io: CommandIo,
): Promise<number> {
  const backend = await startBackend(io.log);
  const model = await loadModel(options);
  try {
    if (options.timeHead !== undefined) guidedSchemeOwner(model.config);
    const override = splitOverride(options);
    const data = withProposals(
      {
        ...model.config.data,
        ...(override ? { [options.split]: override } : {}),
        ...(options.lenient ? { lenient: true } : {}),
      },
      options.proposals,
    );
    const proposalFiles = proposalFilesOf({ detector: model.config.detector, data });
    const split = await loadSplit(
      data,
      options.split,
      options.limit ?? (options.split === 'val' ? data.valImages : undefined),
    );
    const proposals = isProposalDetector(model.config.detector);
    io.log(
      `evaluating ${model.checkpoint} (iteration ${model.iteration}) on ${split.dataset.records.length} ${options.split} images${proposals ? ' (class-agnostic proposal recall)' : ''}`,
    );
    const { details } = await evaluateDetector(model.detector, split, {
      proposals,
      iteration: model.iteration,
      precomputed: proposalFiles
        ? loadSplitProposals(proposalFiles[options.split], split, `the ${options.split} split`)
        : undefined,
    });
    io.log(details.lines.join('\n'));
    if (options.countAnchors) {
      const anchors = await countAnchorsPerImage(model.detector, split);
      if (anchors !== undefined) {
        details.anchorsPerImage = anchors;
        io.log(`anchors per image: ${anchors.toFixed(1)}`);
      }
    }
    if (options.timeHead !== undefined) {
      const timing = await timeGuidedHead(options, model.config, split, {
        batches: options.timeHead,
        clock: backend.threads > 1 ? 'wall' : 'cpu',
      });
      if (timing) {
        details.headTiming = timing;
        io.log(
          `head time per image (${timing.clock} clock, median of ${timing.batches} batches): masked ${timing.maskedMs.toFixed(2)} ms, dense ${timing.denseMs.toFixed(2)} ms (${(timing.denseMs / timing.maskedMs).toFixed(2)}×)`,
        );
      }
    }
    if (details.perClass.length > 0) {
      io.log('per-class AP:');
      for (const entry of details.perClass)
        io.log(
          `  ${entry.name.padEnd(16)} AP ${entry.ap.toFixed(3)}  AP50 ${entry.ap50.toFixed(3)}  AP75 ${entry.ap75.toFixed(3)}`,
        );
    }
    if (options.out) {
      await writeFile(options.out, `${JSON.stringify(details, null, 2)}\n`);
      io.log(`wrote ${options.out}`);
    }
    return 0;
  } finally {
    model.detector.dispose();
  }
}

/**
 * Where a model's Guided Anchoring scheme sits (`head` or a two-stage model's `proposals`); an
 * error naming the scheme when there is none, so `--time-head` fails before the evaluation.
 */
function guidedSchemeOwner(config: RunConfig): 'head' | 'proposals' {
  const detector = config.detector as { kind: string; head?: unknown; proposals?: unknown };
  const owner = detector.kind === 'two-stage' ? 'proposals' : 'head';
  const scheme = (detector[owner] as { anchorScheme?: { type?: string; sparseInference?: string } })
    ?.anchorScheme;
  if (scheme?.sparseInference === undefined)
    throw new Error(
      `--time-head: the model's ${owner} has no Guided Anchoring anchor scheme (${scheme?.type ?? 'none'}): no masked path to time`,
    );
  return owner;
}

/**
 * GA Table 5's head time for `det eval --time-head`: the model built twice more with its
 * Guided Anchoring scheme's `sparseInference` forced to `'always'` (only kept locations
 * evaluated) and `'never'` (all of them, the εL mask applied after), same weights and `--set`.
 */
async function timeGuidedHead(
  options: ModelOptions & { set?: string[] },
  config: RunConfig,
  split: Awaited<ReturnType<typeof loadSplit>>,
  timing: { batches: number; clock: 'cpu' | 'wall' },
) {
  const owner = guidedSchemeOwner(config);
  const build = (mode: 'always' | 'never') =>
    loadModel({
      ...options,
      set: [...(options.set ?? []), `${owner}.anchorScheme.sparseInference="${mode}"`],
    });
  const masked = await build('always');
  try {
    const dense = await build('never');
    try {
      return await timeHeadPaths(masked.detector, dense.detector, split, timing);
    } finally {
      dense.detector.dispose();
    }
  } finally {
    masked.detector.dispose();
  }
}

const imageExtensions = new Set(['.png', '.jpg', '.jpeg', '.webp']);

/** Records for loose image files (no ground truth), ids 1..N in name order. */
async function imageRecords(input: string): Promise<DetectionRecord[]> {
  const path = resolve(input);
  const files = statSync(path).isDirectory()
    ? (await readdir(path))
        .filter((name) => imageExtensions.has(extname(name).toLowerCase()))
        .sort()
        .map((name) => join(path, name))
    : [path];
  if (files.length === 0) throw new Error(`${input}: no .png/.jpg/.webp images`);
  return Promise.all(
    files.map(async (filePath, index) => {
      let metadata: sharp.Metadata;
      try {
        metadata = await sharp(filePath).metadata();
      } catch (error) {
        throw new Error(`${filePath}: cannot decode image (${(error as Error).message})`);
      }
      return {
        imageId: index + 1,
        fileName: basename(filePath),
        filePath,
        width: metadata.width ?? 0,
        height: metadata.height ?? 0,
        boxes: new Float32Array(0),
        labels: new Int32Array(0),
        annotationIds: new Int32Array(0),
        ignoreBoxes: new Float32Array(0),
      };
    }),
  );
}

/** `det predict`: COCO results JSON and images with boxes drawn. */
export async function predictCommand(
  options: ModelOptions & {
    input?: string;
    split?: 'train' | 'val';
    limit?: number;
    out: string;
    score: number;
    proposals?: string;
  },
  io: CommandIo,
): Promise<number> {
  await startBackend(io.log);
  const model = await loadModel(options);
  try {
    const proposalFiles = proposalFilesOf({
      detector: model.config.detector,
      data: withProposals(model.config.data, options.proposals),
    });
    let records: DetectionRecord[];
    let categoryIds: readonly number[];
    let classNames: readonly string[];
    if (options.input) {
      records = await imageRecords(options.input);
      const train = await loadSplit(model.config.data, 'train', 1);
      categoryIds = train.dataset.categoryIds;
      classNames = train.dataset.classNames;
    } else {
      const split = await loadSplit(model.config.data, options.split ?? 'val', options.limit ?? 8);
      records = split.dataset.records;
      categoryIds = split.dataset.categoryIds;
      classNames = split.dataset.classNames;
    }
    const precomputed = proposalFiles
      ? loadSplitProposals(
          proposalFiles[options.split ?? 'val'],
          { dataset: { records } } as Parameters<typeof loadSplitProposals>[1],
          options.input ? 'the input images' : `the ${options.split ?? 'val'} split`,
        )
      : undefined;
    const loader = evaluationLoader({ records } as Parameters<typeof evaluationLoader>[0]);
    const results = await predictDataset(model.detector, loader.batches(), {
      categoryIds,
      ...(precomputed
        ? { proposalsOf: (imageId: number) => precomputed.get(imageId) ?? new Float32Array(0) }
        : {}),
    });
    await mkdir(options.out, { recursive: true });
    await writeFile(join(options.out, 'results.json'), `${JSON.stringify(results)}\n`);
    const drawn = await drawRecords({
      records: options.input ? records.map((record) => ({ ...record })) : records,
      results,
      categoryIds,
      classNames,
      minScore: options.score,
    });
    await Promise.all(
      drawn.map((png, index) =>
        writeFile(
          join(
            options.out,
            `${basename(records[index]!.fileName, extname(records[index]!.fileName))}.png`,
          ),
          png,
        ),
      ),
    );
    io.log(
      `${results.length} detections on ${records.length} image(s) → ${join(options.out, 'results.json')} and ${drawn.length} drawn image(s) in ${options.out}`,
    );
    return 0;
  } finally {
    model.detector.dispose();
  }
}

/**
 * `det export`: the run's model (best checkpoint, else last) as `model.safetensors` +
 * `model.json` (config, class names, category ids): plain bytes and JSON that a web page loads
 * (`loadExportedDetector` of @det/detectors; apps/playground).
 */
export async function exportCommand(
  options: ModelOptions & { out?: string },
  io: CommandIo,
): Promise<number> {
  await startBackend(io.log);
  const model = await loadModel(options);
  try {
    const train = await loadSplit(model.config.data, 'train', 1);
    const { tensors, info } = await exportDetector(
      model.detector,
      { classNames: train.dataset.classNames, categoryIds: train.dataset.categoryIds },
      { checkpoint: model.checkpoint, iteration: model.iteration },
    );
    const out = options.out ?? (model.runDirectory ? join(model.runDirectory, 'export') : 'export');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'model.safetensors'), tensors);
    await writeFile(join(out, 'model.json'), `${JSON.stringify(info, null, 2)}\n`);
    io.log(
      `${model.config.detector.kind} model (${info.classNames.length} classes, iteration ${model.iteration}, ${(tensors.byteLength / 1024).toFixed(0)} KiB) → ${join(out, 'model.safetensors')} + model.json`,
    );
    return 0;
  } finally {
    model.detector.dispose();
  }
}

/**
 * `det search-anchors`: MetaAnchor's greedy inference-anchor search (§4.1.2) on the first
 * `limit` images of the training split (`searchData: 'train-subset'`), or of the val split with
 * `--search-data evaluation-split --allow-evaluation-split` (warned about: the val AP then
 * measures the data the anchors were chosen on).
 */
export async function searchAnchorsCommand(
  options: ModelOptions & {
    steps: number;
    limit: number;
    metric: 'AP' | 'AP50' | 'AP75';
    seed: number;
    out?: string;
    searchData?: AnchorSearchData;
    allowEvaluationSplit?: boolean;
  },
  io: CommandIo,
): Promise<number> {
  const searchData = options.searchData ?? 'train-subset';
  if (searchData === 'evaluation-split' && options.allowEvaluationSplit !== true) {
    io.log(
      'det search-anchors: --search-data evaluation-split chooses the anchors on the val images their AP is reported on; refused without --allow-evaluation-split (MetaAnchor §4.1.2 searches on a training subset, the default)',
    );
    return 2;
  }
  await startBackend(io.log);
  const model = await loadModel(options);
  try {
    const splitName = searchData === 'train-subset' ? 'train' : 'val';
    const split = await loadSplit(model.config.data, splitName, options.limit);
    const loader = evaluationLoader(split.dataset);
    io.log(
      `searching ${options.steps} candidate anchors on ${split.dataset.records.length} ${splitName} images (${searchData}) by ${options.metric}`,
    );
    const result = await searchAnchorConfiguration({
      detector: model.detector,
      batches: () => loader.batches(),
      searchData,
      allowEvaluationSplit: options.allowEvaluationSplit === true,
      warn: io.log,
      groundTruthJson: split.groundTruthJson,
      categoryIds: split.dataset.categoryIds,
      steps: options.steps,
      seed: options.seed,
      metric: options.metric,
    });
    io.log(
      `chosen ${result.anchors.length} anchor(s), ${options.metric} ${result.score.toFixed(4)}:`,
    );
    for (const anchor of result.anchors) io.log(`  ${JSON.stringify(anchor)}`);
    const out =
      options.out ??
      (model.runDirectory ? join(model.runDirectory, 'anchors.json') : 'anchors.json');
    await writeFile(out, `${JSON.stringify({ searchData, ...result }, null, 2)}\n`);
    io.log(`wrote ${out}`);
    return 0;
  } finally {
    model.detector.dispose();
  }
}

/** `det report`: rebuilds a run's report.html and plots. */
export async function reportCommand(
  options: { run: string; runsDir: string },
  io: CommandIo,
): Promise<number> {
  const path = await buildReport(join(options.runsDir, options.run));
  io.log(`report: ${path}`);
  return 0;
}
