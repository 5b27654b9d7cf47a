import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '@det/backbone';

/** One proposal in COCO results style (original image pixels), as the files hold them. */
export interface ProposalEntry {
  image_id: number;
  bbox: [number, number, number, number];
  score: number;
  category_id: 1;
}

/** `--shard i/N`: shard `index` (0-based, Kubernetes' `JOB_COMPLETION_INDEX`) of `count`. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** Parses `i/N` (0 ≤ i < N); errors name the option and value. */
export function parseShard(text: string): ShardSpec {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    throw new Error(
      `--shard ${text}: expected i/N with 0 ≤ i < N (0-based, e.g. 0/4 … 3/4; Kubernetes: "$JOB_COMPLETION_INDEX/N")`,
    );
  }
  return { index, count };
}

/** The images of shard `index` of `count`: a contiguous, deterministic slice of the split. */
export function shardImages<T>(images: readonly T[], shard: ShardSpec): T[] {
  const from = Math.floor((shard.index * images.length) / shard.count);
  const to = Math.floor(((shard.index + 1) * images.length) / shard.count);
  return images.slice(from, to);
}

/** Where shard `index` of `count` of a split lives in a proposals folder. */
export function shardFile(directory: string, split: string, shard: ShardSpec): string {
  return join(directory, `${split}.shard-${shard.index}-of-${shard.count}.json`);
}

/** The merged top-`top` proposals file of a split. */
export function mergedFile(directory: string, split: string, top: number): string {
  return join(directory, `${split}.top${top}.json`);
}

/** What produced a shard: a rerun with another source must not mix with it. */
export interface ProposalSourceInfo {
  /** The checkpoint file the proposals come from. */
  checkpoint: string;
  iteration: number;
  /** e.g. `single-stage rpn (guided)` or `two-stage rpn (dense) → its RPN`. */
  detector: string;
}

/** A shard file: its header and its images' proposals (top `top`, by decreasing score). */
export interface ShardContent {
  format: 'det-proposals-shard';
  version: 1;
  split: string;
  shard: ShardSpec;
  top: number;
  source: ProposalSourceInfo;
  /** Every image id of the split, in split order (merge checks coverage against it). */
  splitImages: number[];
  /** The image ids this shard covers. */
  images: number[];
  proposals: ProposalEntry[];
}

const shardPattern = /^(.+)\.shard-(\d+)-of-(\d+)\.json$/;

/** Writes a shard atomically (temp + rename): a killed process leaves no half-written shard. */
export async function writeShard(file: string, content: ShardContent): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(content)}\n`, 'proposals shard');
}

/** Reads and checks a shard file; errors name the file and the field. */
export async function readShard(file: string): Promise<ShardContent> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not a readable proposals shard (${(error as Error).message})`);
  }
  const content = json as Partial<ShardContent>;
  if (content?.format !== 'det-proposals-shard' || content.version !== 1)
    throw new Error(
      `${file}: field 'format': not a det proposals shard (format ${JSON.stringify(content?.format)}, version ${JSON.stringify(content?.version)})`,
    );
  for (const field of ['splitImages', 'images', 'proposals'] as const) {
    if (!Array.isArray(content[field]))
      throw new Error(`${file}: field '${field}' must be an array`);
  }
  return content as ShardContent;
}

/**
 * Whether `file` already holds this shard from the same source (a rerun skips it). A shard of
 * another source, split or image list is an error: mixing them would merge two models.
 */
export async function finishedShard(
  file: string,
  expected: Pick<ShardContent, 'split' | 'shard' | 'top' | 'source' | 'splitImages'>,
): Promise<boolean> {
  if (!existsSync(file)) return false;
  const found = await readShard(file);
  const problems: string[] = [];
  if (found.source.checkpoint !== expected.source.checkpoint)
    problems.push(
      `source.checkpoint ${found.source.checkpoint} (now ${expected.source.checkpoint})`,
    );
  else if (found.source.iteration !== expected.source.iteration)
    problems.push(`source.iteration ${found.source.iteration} (now ${expected.source.iteration})`);
  if (found.top !== expected.top) problems.push(`top ${found.top} (now ${expected.top})`);
  if (found.splitImages.join() !== expected.splitImages.join())
    problems.push(
      `splitImages (${found.splitImages.length} ids; now ${expected.splitImages.length})`,
    );
  if (problems.length > 0) {
    throw new Error(
      `${file}: a shard of other proposals is in the way (field ${problems.join('; ')}); delete it or write to another --out`,
    );
  }
  return true;
}

export interface MergeReport {
  split: string;
  shards: number;
  images: number;
  proposals: number;
  /** The merged files by `top`. */
  files: Record<number, string>;
  source: ProposalSourceInfo;
}

/**
 * Merges the shard files of a split in `directory` into one COCO-results-style file per `top`
 * (`<split>.top<N>.json`, written atomically, images in split order, each image's proposals
 * by decreasing score) and a `manifest.json`. Refuses, naming them: a missing shard, shards of
 * different counts or sources, an image missing from every shard or in two, an image id that
 * is not in the split. The merged bytes do not depend on how many shards there were.
 */
export async function mergeShards(
  directory: string,
  split: string,
  tops: readonly number[],
): Promise<MergeReport> {
  const names = existsSync(directory) ? await readdir(directory) : [];
  const found = names
    .map((name) => shardPattern.exec(name))
    .filter((match): match is RegExpExecArray => match !== null && match[1] === split);
  if (found.length === 0)
    throw new Error(`${directory}: no shards of split '${split}' (${split}.shard-i-of-N.json)`);
  const counts = [...new Set(found.map((match) => Number(match[3])))];
  if (counts.length > 1) {
    throw new Error(
      `${directory}: shards of split '${split}' of different counts (${counts.map((n) => `of-${n}`).join(', ')}); keep one sharding`,
    );
  }
  const count = counts[0]!;
  const shards: { file: string; content: ShardContent }[] = [];
  const missing: string[] = [];
  for (let index = 0; index < count; index++) {
    const file = shardFile(directory, split, { index, count });
    if (!existsSync(file)) missing.push(`shard ${index}/${count} (${file})`);
    else shards.push({ file, content: await readShard(file) });
  }
  if (missing.length > 0) {
    throw new Error(
      `${directory}: missing ${missing.join(', ')}; run det-finetune proposals --shard ${missing[0]!.split(' ')[1]} first`,
    );
  }
  const first = shards[0]!;
  for (const { file, content } of shards) {
    if (content.source.checkpoint !== first.content.source.checkpoint)
      throw new Error(
        `${file}: field 'source.checkpoint' ${content.source.checkpoint} differs from ${first.file}'s ${first.content.source.checkpoint}`,
      );
    if (content.splitImages.join() !== first.content.splitImages.join())
      throw new Error(`${file}: field 'splitImages' differs from ${first.file}'s`);
  }
  const top = Math.max(...shards.map((shard) => shard.content.top));
  const wanted = tops.filter((n) => n > 0);
  const tooMany = wanted.find((n) => n > Math.min(...shards.map((shard) => shard.content.top)));
  if (tooMany !== undefined)
    throw new Error(
      `${directory}: top ${tooMany} asked, but the shards hold ${Math.min(...shards.map((s) => s.content.top))} per image`,
    );
  const splitImages = first.content.splitImages;
  const known = new Set(splitImages);
  const owner = new Map<number, string>();
  const byImage = new Map<number, ProposalEntry[]>();
  for (const { file, content } of shards) {
    for (const id of content.images) {
      if (!known.has(id))
        throw new Error(`${file}: field 'images': image id ${id} is not in split '${split}'`);
      const other = owner.get(id);
      if (other !== undefined)
        throw new Error(`image id ${id} is in two shards: ${other} and ${file} (field 'images')`);
      owner.set(id, file);
      byImage.set(id, []);
    }
    content.proposals.forEach((entry, index) => {
      const list = byImage.get(entry.image_id);
      if (!list || owner.get(entry.image_id) !== file)
        throw new Error(
          `${file}: proposal #${index} field 'image_id' ${entry.image_id} is not an image of this shard`,
        );
      list.push(entry);
    });
  }
  const uncovered = splitImages.filter((id) => !owner.has(id));
  if (uncovered.length > 0) {
    throw new Error(
      `${directory}: image id ${uncovered[0]} of split '${split}' is in no shard` +
        (uncovered.length > 1 ? ` (${uncovered.length} images missing)` : ''),
    );
  }
  const files: Record<number, string> = {};
  let proposals = 0;
  for (const n of wanted) {
    const merged = splitImages.flatMap((id) => byImage.get(id)!.slice(0, n));
    if (n === Math.max(...wanted)) proposals = merged.length;
    const file = mergedFile(directory, split, n);
    await writeFileAtomic(file, `${JSON.stringify(merged)}\n`, 'proposals file');
    files[n] = file;
  }
  const report: MergeReport = {
    split,
    shards: count,
    images: splitImages.length,
    proposals,
    files,
    source: first.content.source,
  };
  await writeFileAtomic(
    join(directory, `${split}.manifest.json`),
    `${JSON.stringify({ ...report, shardTop: top }, null, 2)}\n`,
    'proposals manifest',
  );
  return report;
}

/** The manifest `mergeShards` wrote beside a merged file, if any. */
export async function manifestBeside(
  file: string,
  split: string,
): Promise<MergeReport | undefined> {
  const manifest = join(file, '..', `${split}.manifest.json`);
  if (!existsSync(manifest)) return undefined;
  return JSON.parse(await readFile(manifest, 'utf8')) as MergeReport;
}
