import { readFile } from 'node:fs/promises';
import { type DetectorConfig, parseDetectorConfig, presets } from '@det/detectors';
import { z } from 'zod';

const splitSchema = z.union([
  z.literal('synthetic'),
  z.strictObject({ annotationFile: z.string().min(1), imageRoot: z.string().min(1) }),
]);

/** Where the data comes from: the embedded synthetic set (default) or COCO files. */
export const dataConfigSchema = z.strictObject({
  train: splitSchema.default('synthetic'),
  val: splitSchema.default('synthetic'),
  /** Validation images evaluated (the first N of the split). */
  valImages: z.number().int().positive().default(200),
  /** Training images used (the first N of the split; default all). */
  trainImages: z.number().int().positive().optional(),
  /** Skip (and count in the report) images that are missing, undecodable or inconsistent. */
  lenient: z.boolean().default(false),
  /**
   * Precomputed proposals (Fast R-CNN, `proposals.type: 'precomputed'`): a COCO-results-style
   * JSON file per split (`[{ image_id, bbox: [x, y, w, h], score }]`, original pixels); `val`
   * defaults to `train`'s file.
   */
  proposals: z
    .strictObject({ train: z.string().min(1), val: z.string().min(1).optional() })
    .optional(),
});

/** How the run is driven: checkpoints, evaluation, logging, time budget. */
export const runSettingsSchema = z.strictObject({
  checkpointInterval: z.number().int().positive().default(100),
  /** Evaluate every N iterations (0: only at the end of a session). */
  evalInterval: z.number().int().min(0).default(0),
  /** Metric that picks `best`; default AP50 (AR@100 for proposal detectors). */
  bestMetric: z.enum(['AP', 'AP50', 'AP75', 'AR@100']).optional(),
  /** Plain progress lines every N iterations when not on a terminal. */
  logInterval: z.number().int().positive().default(20),
  /** Default training seconds per session (`--time` overrides). */
  timeSeconds: z.number().positive().optional(),
  /** Learning-rate decay after warmup: `step` (the detector's `train.steps`/`gamma`) or `cosine` to `minLr` at maxIters. */
  lrPolicy: z.enum(['step', 'cosine']).default('step'),
  minLr: z.number().min(0).default(0),
  /** Validation images drawn in the report's grid. */
  reportImages: z.number().int().min(0).default(8),
});

export type DataConfig = z.output<typeof dataConfigSchema>;
export type RunSettings = z.output<typeof runSettingsSchema>;

/** Everything a run is: saved resolved as `runs/<name>/config.json` and in each checkpoint. */
export interface RunConfig {
  /** The preset it started from, if any (for people). */
  preset?: string;
  detector: DetectorConfig;
  data: DataConfig;
  run: RunSettings;
}

/** What a config file or preset holds before resolution (the detector may still be a preset). */
interface RunConfigInput {
  preset?: string;
  detector?: Record<string, unknown>;
  data?: Record<string, unknown>;
  run?: Record<string, unknown>;
}

/**
 * App presets on top of `@det/detectors`' `presets`. `demo`: the README's first command — the
 * tiny RetinaNet with AdamW at 5e-4 (the best of 2e-3 / 5e-4 with and without GroupNorm over
 * ~400 steps on the synthetic set) and torchvision's from-scratch normalisation: BatchNorm with
 * batch statistics and every block's last γ at 1 (the preset zero-initialises it, which its fixed
 * statistics need but which held a BatchNorm model near identity blocks: fidelity parity at 1,000
 * steps, val AP50 0.034 → 0.085), 1200 iterations with the lr ×0.1 at 960, 600 s a session.
 */
const appPresets: Record<string, RunConfigInput> = {
  demo: {
    preset: 'tinyRetinaNet',
    detector: {
      backbone: { norm: 'batch', zeroInitResidual: false },
      train: { optimizer: 'adam', baseLr: 0.0005, maxIters: 1200, steps: [960] },
    },
    run: { timeSeconds: 600, checkpointInterval: 100, logInterval: 20 },
  },
};

export function presetNames(): string[] {
  return [...Object.keys(appPresets), ...Object.keys(presets)];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: unknown, override: unknown): unknown {
  if (!isRecord(base) || !isRecord(override)) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = deepMerge(base[key], value);
  return out;
}

/** `a.b.c=value` → `{ section, path, value }`; a value is JSON when it parses, else a string. */
export function parseSetting(text: string): { path: string[]; value: unknown } {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new Error(`--set ${text}: expected key=value (e.g. train.maxIters=200)`);
  const key = text.slice(0, equals);
  const raw = text.slice(equals + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a bare string, e.g. optimizer=adam
  }
  const path = key.split('.');
  // Shorthand: paths outside data/run/detector address the detector config.
  if (!['detector', 'data', 'run'].includes(path[0]!)) path.unshift('detector');
  return { path, value };
}

/** Sets `value` at a dotted `path` of a plain object, creating the objects on the way. */
export function setAt(
  target: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isRecord(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function hasPath(target: unknown, path: readonly string[]): boolean {
  let node = target;
  for (const key of path) {
    if (!isRecord(node) || !(key in node)) return false;
    node = node[key];
  }
  return true;
}

function zodProblems(error: z.ZodError, prefix: string): string {
  return error.issues
    .map((issue) => `  ${[prefix, ...issue.path.map(String)].join('.')}: ${issue.message}`)
    .join('\n');
}

async function readConfigFile(file: string): Promise<RunConfigInput> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`${file}: cannot read config (${(error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: malformed JSON (${(error as Error).message})`);
  }
  if (!isRecord(json)) throw new Error(`${file}: a config is a JSON object`);
  const unknown = Object.keys(json).filter(
    (key) => !['preset', 'detector', 'data', 'run'].includes(key),
  );
  if (unknown.length > 0) {
    throw new Error(
      `${file}: unknown top-level field '${unknown[0]}' (allowed: preset, detector, data, run)`,
    );
  }
  return json as RunConfigInput;
}

export interface ResolveOptions {
  preset?: string;
  configFile?: string;
  /** `--set key=value` in order. */
  settings?: readonly string[];
  /** A saved config to start from (resume); `--set` still applies. */
  saved?: RunConfig;
}

/** The data section (needed before the detector: presets take the number of classes). */
export function resolveSections(input: { data?: unknown; run?: unknown; source: string }): {
  data: DataConfig;
  run: RunSettings;
} {
  const data = dataConfigSchema.safeParse(input.data ?? {});
  if (!data.success)
    throw new Error(`${input.source}: invalid config\n${zodProblems(data.error, 'data')}`);
  const run = runSettingsSchema.safeParse(input.run ?? {});
  if (!run.success)
    throw new Error(`${input.source}: invalid config\n${zodProblems(run.error, 'run')}`);
  return { data: data.data, run: run.data };
}

/**
 * Resolves `--preset`/`--config` plus `--set` overrides into a validated `RunConfig`. The
 * detector config comes from `numClassesOf(data)` when it is a preset. Errors name the field
 * path and the allowed values.
 */
export async function resolveRunConfig(
  options: ResolveOptions,
  numClassesOf: (data: DataConfig) => Promise<number>,
): Promise<RunConfig> {
  const source = options.configFile ?? (options.preset ? `preset ${options.preset}` : 'config');
  let input: RunConfigInput;
  if (options.saved) input = structuredClone(options.saved) as unknown as RunConfigInput;
  else if (options.configFile) input = await readConfigFile(options.configFile);
  else if (options.preset) input = { preset: options.preset };
  else
    throw new Error(
      'det train: give --preset NAME or --config FILE (presets: ' + presetNames().join(', ') + ')',
    );
  if (!options.saved && options.preset && options.configFile)
    throw new Error('det train: give --preset or --config, not both');
  // An app preset expands into a detectors preset plus overrides.
  if (!options.saved && input.preset && appPresets[input.preset]) {
    const expanded = appPresets[input.preset]!;
    input = deepMerge(expanded, { ...input, preset: expanded.preset }) as RunConfigInput;
    input.preset = expanded.preset;
  }
  const overrides = (options.settings ?? []).map(parseSetting);
  const raw = input as Record<string, unknown>;
  for (const { path, value } of overrides) if (path[0] !== 'detector') setAt(raw, path, value);
  const { data, run } = resolveSections({ data: input.data, run: input.run, source });
  let detector: Record<string, unknown>;
  if (!options.saved && input.preset) {
    const make = (presets as Record<string, (numClasses?: number) => DetectorConfig>)[input.preset];
    if (!make) {
      throw new Error(
        `${source}: preset: unknown preset '${input.preset}' (allowed: ${presetNames().join(', ')})`,
      );
    }
    const base = make(await numClassesOf(data));
    detector = deepMerge(base, input.detector ?? {}) as Record<string, unknown>;
  } else {
    if (!isRecord(input.detector))
      throw new Error(`${source}: detector: required (or give preset)`);
    detector = input.detector;
  }
  const beforeOverrides = structuredClone(detector);
  for (const { path, value } of overrides) {
    if (path[0] === 'detector') setAt(detector, path.slice(1), value);
  }
  let parsed: DetectorConfig;
  try {
    parsed = parseDetectorConfig(detector, source);
  } catch (error) {
    // The detector config is strict: a --set that names no field fails to parse. Say which
    // field the user meant and what exists there, from the config without the overrides.
    let base: DetectorConfig | undefined;
    try {
      base = parseDetectorConfig(beforeOverrides, source);
    } catch {
      throw error;
    }
    // An optional field absent from the base (e.g. a guided scheme's `components`) is a real
    // field when the parse error names it: that error (a bad value) is the one to show.
    const message = (error as Error).message;
    for (const { path } of overrides) {
      if (
        path[0] === 'detector' &&
        !hasPath(base, path.slice(1)) &&
        !(
          message.includes(`${path.slice(1, -1).join('.')}.`) &&
          !message.includes(`Unrecognized key: "${path[path.length - 1]}"`)
        )
      ) {
        unknownSetting(base, path);
      }
    }
    throw error;
  }
  // Optional fields parse to nothing: refuse a --set that did not land on a real field.
  for (const { path } of overrides) {
    if (path[0] === 'detector' && !hasPath(parsed, path.slice(1))) unknownSetting(parsed, path);
  }
  return {
    ...(input.preset ? { preset: input.preset } : {}),
    detector: parsed,
    data,
    run,
  };
}

/** Whether the detector takes precomputed proposals (Fast R-CNN: `proposals.type: 'precomputed'`). */
export function takesPrecomputedProposals(config: DetectorConfig): boolean {
  return config.kind === 'two-stage' && config.proposals.type === 'precomputed';
}

/**
 * The precomputed-proposals files of a run (`data.proposals`, `val` defaulting to `train`):
 * required when the detector takes precomputed proposals, refused when it does not.
 */
export function proposalFilesOf(
  config: Pick<RunConfig, 'detector' | 'data'>,
): { train: string; val: string } | undefined {
  const files = config.data.proposals;
  if (takesPrecomputedProposals(config.detector)) {
    if (!files) {
      throw new Error(
        "proposals.type 'precomputed' (Fast R-CNN) needs precomputed proposals: give --proposals FILE (COCO results style, [{ image_id, bbox: [x, y, w, h], score }] in original image pixels) or data.proposals.train in the run config",
      );
    }
    return { train: files.train, val: files.val ?? files.train };
  }
  if (files) {
    const detector = config.detector;
    const kind =
      detector.kind === 'two-stage'
        ? `two-stage with proposals.type '${detector.proposals.type}'`
        : `single-stage with head.type '${detector.head.type}'`;
    throw new Error(
      `--proposals (data.proposals): only a detector with proposals.type 'precomputed' (Fast R-CNN) takes precomputed proposals; this one is ${kind}`,
    );
  }
  return undefined;
}

/** Proposal detectors are evaluated class-agnostically (AR at 100/300/1000). */
export function isProposalDetector(config: DetectorConfig): boolean {
  return config.kind === 'single-stage' && config.head.type === 'rpn';
}

export function bestMetricOf(config: RunConfig): string {
  return config.run.bestMetric ?? (isProposalDetector(config.detector) ? 'AR@100' : 'AP50');
}

function unknownSetting(config: DetectorConfig, path: readonly string[]): never {
  // The deepest object of the path that exists, and what it has.
  const parent: string[] = [];
  let node: unknown = config;
  for (const key of path.slice(1, -1)) {
    if (!isRecord(node) || !isRecord(node[key])) break;
    node = node[key];
    parent.push(key);
  }
  const fields = isRecord(node) ? Object.keys(node).join(', ') : '(none)';
  throw new Error(
    `--set ${path.join('.')}: no such field (${['detector', ...parent].join('.')} has: ${fields})`,
  );
}
