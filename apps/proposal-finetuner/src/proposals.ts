import { mkdir } from 'node:fs/promises';
import {
  type Detector,
  type DetectorConfig,
  parseDetectorConfig,
  predictDataset,
} from '@det/detectors';
import {
  type CommandIo,
  checkpointOf,
  detectorFrom,
  evaluationLoader,
  type LoadedSplit,
  loadSplit,
  type RunConfig,
  readRunConfig,
  startBackend,
} from '@det/trainer';
import {
  finishedShard,
  type MergeReport,
  mergeShards,
  type ProposalEntry,
  type ProposalSourceInfo,
  parseShard,
  type ShardSpec,
  shardFile,
  shardImages,
  writeShard,
} from './shards';

/**
 * The single-stage proposal detector of a checkpoint's config: the detector itself when it is
 * one (RPN, GA-RPN, Meta-RPN, meta-guided RPN), or the RPN of a two-stage detector (Faster
 * R-CNN's own proposals), emitting the top `top` proposals per image. Anything else (a
 * RetinaNet, a Fast R-CNN) is refused naming its kind.
 */
export function proposalDetectorConfig(
  config: DetectorConfig,
  top: number,
  source: string,
): { config: DetectorConfig; description: string } {
  let head: Extract<DetectorConfig, { kind: 'single-stage' }>['head'];
  let description: string;
  if (config.kind === 'single-stage') {
    if (config.head.type !== 'rpn') {
      throw new Error(
        `${source}: a single-stage detector with head.type '${config.head.type}' makes detections, not proposals (give a GA-RPN, RPN, Meta-RPN or meta-guided RPN, or a Faster R-CNN for its own RPN)`,
      );
    }
    head = config.head;
    description = `single-stage rpn (${head.anchorScheme.type})`;
  } else {
    if (config.proposals.type !== 'rpn') {
      throw new Error(
        `${source}: a two-stage detector with proposals.type '${config.proposals.type}' (Fast R-CNN) has no proposal head`,
      );
    }
    head = config.proposals;
    description = `two-stage rpn (${head.anchorScheme.type}): its RPN`;
  }
  const test = head.testProposals;
  return {
    config: parseDetectorConfig(
      {
        kind: 'single-stage',
        backbone: config.backbone,
        head: {
          ...head,
          testProposals: { ...test, maxPerImage: top, nmsPre: Math.max(test.nmsPre, top) },
        },
        train: config.train,
      },
      source,
    ),
    description,
  };
}

/** A proposal detector with a checkpoint's weights (a two-stage checkpoint's RoI head dropped). */
export async function loadProposalDetector(
  file: string,
  top: number,
  log: (line: string) => void,
): Promise<{ detector: Detector; runConfig: RunConfig; source: ProposalSourceInfo }> {
  const { config: runConfig, path, iteration } = await readRunConfig(file);
  const { config, description } = proposalDetectorConfig(runConfig.detector, top, path);
  const detector = await detectorFrom(config, file, log);
  return {
    detector,
    runConfig,
    source: { checkpoint: path, iteration, detector: description },
  };
}

/**
 * The proposals of `images` (a slice of a split), one image at a time so an image's proposals
 * do not depend on which others share its batch: sharded and unsharded runs give the same
 * bytes. Top `top` per image by decreasing score, in original image pixels.
 */
export async function predictProposals(
  detector: Detector,
  split: LoadedSplit,
  records: LoadedSplit['dataset']['records'],
): Promise<ProposalEntry[]> {
  const results = await predictDataset(
    detector,
    evaluationLoader({ ...split.dataset, records }, 1).batches(),
    { categoryIds: [1] },
  );
  return results.map((result) => ({
    image_id: result.image_id,
    bbox: result.bbox as [number, number, number, number],
    score: result.score,
    category_id: 1,
  }));
}

export interface ProposalsOptions {
  run?: string;
  checkpoint?: string;
  runsDir: string;
  split: 'train' | 'val';
  /** The first N images of the split (default: all of train, `data.valImages` of val). */
  limit?: number;
  /** Proposals per image of each merged file (default 300 and 1000). */
  top: number[];
  /** Only this shard (`i/N`), no merge; default: every image, then merge. */
  shard?: string;
  out: string;
}

/**
 * `det-finetune proposals`: runs a trained proposal detector over a split and writes shard
 * `i/N` atomically (a rerun skips a finished shard); without `--shard` it runs shard 0/1 and
 * merges into `<out>/<split>.top<N>.json` for every N of `--top`.
 */
export async function proposalsCommand(
  options: ProposalsOptions,
  io: CommandIo,
): Promise<MergeReport | undefined> {
  const shard: ShardSpec = options.shard ? parseShard(options.shard) : { index: 0, count: 1 };
  const top = Math.max(...options.top);
  await startBackend(io.log);
  const { file } = checkpointOf(options);
  const { detector, runConfig, source } = await loadProposalDetector(file, top, io.log);
  try {
    const limit = options.limit ?? (options.split === 'val' ? runConfig.data.valImages : undefined);
    const split = await loadSplit(runConfig.data, options.split, limit);
    const splitImages = split.dataset.records.map((record) => record.imageId);
    const target = shardFile(options.out, options.split, shard);
    const header = { split: options.split, shard, top, source, splitImages };
    await mkdir(options.out, { recursive: true });
    if (await finishedShard(target, header)) {
      io.log(`shard ${shard.index}/${shard.count} of ${options.split}: done already (${target})`);
    } else {
      const records = shardImages(split.dataset.records, shard);
      const started = performance.now();
      const proposals = await predictProposals(detector, split, records);
      await writeShard(target, {
        format: 'det-proposals-shard',
        version: 1,
        ...header,
        images: records.map((record) => record.imageId),
        proposals,
      });
      io.log(
        `shard ${shard.index}/${shard.count} of ${options.split}: ${records.length} images, ${proposals.length} proposals (${source.detector}, ${((performance.now() - started) / 1000).toFixed(0)} s) → ${target}`,
      );
    }
    if (options.shard) return undefined;
    const report = await mergeShards(options.out, options.split, options.top);
    io.log(mergeSummary(report));
    return report;
  } finally {
    detector.dispose();
  }
}

export function mergeSummary(report: MergeReport): string {
  return `merged ${report.shards} shard(s) of ${report.split}: ${report.images} images, ${report.proposals} proposals → ${Object.values(report.files).join(', ')}`;
}
