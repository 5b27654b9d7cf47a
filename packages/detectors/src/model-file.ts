import { loadWeights, parseSafetensors, serializeWeights } from '@det/backbone';
import { type DetectorConfig, parseDetectorConfig } from './config';
import { createDetector } from './create-detector';
import type { Detector } from './detector';

/**
 * An exported detector: `model.safetensors` (the parameters under their names, det layout, and
 * this description in its metadata) plus `model.json` (the same description, for people and
 * tools). Plain bytes and JSON, so a web page reads it as well as Node (`det export` writes
 * it; apps/playground loads it).
 */
export interface ExportedModelInfo {
  format: typeof modelFileFormat;
  version: typeof modelFileVersion;
  /** The resolved detector config that builds the architecture the weights fit. */
  config: DetectorConfig;
  /** Class names in label order (label i is `classNames[i]`). */
  classNames: string[];
  /** The COCO category id of each label. */
  categoryIds: number[];
  /** Where the weights came from, e.g. `{ checkpoint: 'runs/x/checkpoints/best', iteration: 200 }`. */
  source?: { checkpoint?: string; iteration?: number };
}

export const modelFileFormat = 'det-model';
export const modelFileVersion = '1';

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Checks a parsed `model.json` (or the safetensors metadata's copy) field by field. */
export function parseModelInfo(input: unknown, source = 'model.json'): ExportedModelInfo {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new Error(`${source}: expected a JSON object, got ${JSON.stringify(input)}`);
  }
  const record = input as Record<string, unknown>;
  if (record.format !== modelFileFormat) {
    throw new Error(
      `${source}: format must be '${modelFileFormat}' (a model exported by det export), got ${JSON.stringify(record.format)}`,
    );
  }
  if (record.version !== modelFileVersion) {
    throw new Error(
      `${source}: version ${JSON.stringify(record.version)}; this @det/detectors reads version ${modelFileVersion}`,
    );
  }
  const config = parseDetectorConfig(record.config, `${source} config`);
  const { classNames, categoryIds } = record;
  if (!Array.isArray(classNames) || !classNames.every((name) => typeof name === 'string')) {
    throw new Error(`${source}: classNames must be an array of strings`);
  }
  if (
    !Array.isArray(categoryIds) ||
    categoryIds.length !== classNames.length ||
    !categoryIds.every((id) => Number.isInteger(id))
  ) {
    throw new Error(
      `${source}: categoryIds must be ${classNames.length} integers (one per class name)`,
    );
  }
  // Proposal detectors (an `rpn` head alone) have no numClasses: their one class is "object".
  const expected = (config as { numClasses?: number }).numClasses;
  if (expected !== undefined && expected !== classNames.length) {
    throw new Error(
      `${source}: ${classNames.length} class names for a detector of ${expected} classes`,
    );
  }
  return {
    format: modelFileFormat,
    version: modelFileVersion,
    config,
    classNames: classNames as string[],
    categoryIds: categoryIds as number[],
    ...(record.source !== undefined
      ? { source: record.source as ExportedModelInfo['source'] }
      : {}),
  };
}

/**
 * The `model.safetensors` bytes and `model.json` description of a detector: every parameter
 * (det layout, float32/int32) with the description in the safetensors metadata (`det-model`).
 */
export async function exportDetector(
  detector: Detector,
  labels: { classNames: readonly string[]; categoryIds: readonly number[] },
  source?: ExportedModelInfo['source'],
): Promise<{ tensors: Uint8Array; info: ExportedModelInfo }> {
  const info = parseModelInfo(
    {
      format: modelFileFormat,
      version: modelFileVersion,
      config: detector.config,
      classNames: [...labels.classNames],
      categoryIds: [...labels.categoryIds],
      ...(source ? { source } : {}),
    },
    'exportDetector',
  );
  const tensors = await serializeWeights(detector.parameters, {
    metadata: { format: modelFileFormat, version: modelFileVersion, model: JSON.stringify(info) },
  });
  return { tensors, info };
}

/**
 * Builds the detector a `model.safetensors` describes and loads its weights. `json` (the
 * parsed `model.json`) overrides the description in the file's metadata, e.g. to change
 * `config.test` or the inference anchors; the architecture must still fit the weights (a
 * mismatch names the parameters). The caller disposes the detector.
 */
export async function loadExportedDetector(
  tensors: Uint8Array,
  json?: unknown,
  label = 'model.safetensors',
): Promise<{ detector: Detector; info: ExportedModelInfo }> {
  let info: ExportedModelInfo;
  if (json !== undefined) {
    info = parseModelInfo(json, 'model.json');
  } else {
    const { metadata } = parseSafetensors(tensors, label);
    if (metadata.format !== modelFileFormat || metadata.model === undefined) {
      throw new Error(
        `${label}: not an exported det model (metadata.format=${String(metadata.format)}); export one with det export, or give its model.json`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata.model);
    } catch (error) {
      throw new Error(`${label}: metadata 'model' is not JSON (${describeError(error)})`);
    }
    info = parseModelInfo(parsed, `${label} metadata`);
  }
  const detector = createDetector(info.config);
  try {
    await loadWeights(detector.parameters, tensors);
  } catch (error) {
    detector.dispose();
    throw new Error(`${label}: ${describeError(error)}`);
  }
  return { detector, info };
}
