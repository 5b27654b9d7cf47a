import { CocoInputError, inSource } from './errors';

/** Where a record sits, for error messages: `annotation id 17 (annotations[3])`. */
export interface RecordLocation {
  source: string | undefined;
  label: string;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function fail(where: RecordLocation, message: string): never {
  throw new CocoInputError(inSource(where.source, `${where.label}: ${message}`));
}

export function asRecord(value: unknown, where: RecordLocation): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(where, `expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

export function requireNumber(
  record: Record<string, unknown>,
  field: string,
  where: RecordLocation,
): number {
  const value = record[field];
  if (value === undefined) fail(where, `missing required field "${field}"`);
  if (typeof value !== 'number')
    fail(where, `field "${field}" must be a number, got ${describe(value)}`);
  return value;
}

/** `iscrowd` may be 0/1 or a boolean; pycocotools only tests its truthiness. */
export function requireFlag(
  record: Record<string, unknown>,
  field: string,
  where: RecordLocation,
): boolean {
  const value = record[field];
  if (value === undefined) fail(where, `missing required field "${field}"`);
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'number')
    fail(where, `field "${field}" must be 0/1, got ${describe(value)}`);
  return value !== 0;
}

export function requireBox(
  record: Record<string, unknown>,
  where: RecordLocation,
): [number, number, number, number] {
  const value = record.bbox;
  if (value === undefined) fail(where, 'missing required field "bbox"');
  if (!Array.isArray(value) || value.length !== 4 || !value.every((v) => typeof v === 'number')) {
    fail(where, `field "bbox" must be [x, y, width, height] numbers, got ${describe(value)}`);
  }
  return value as [number, number, number, number];
}

export function requireArray(
  record: Record<string, unknown>,
  field: string,
  where: RecordLocation,
): unknown[] {
  const value = record[field];
  if (value === undefined) fail(where, `missing required field "${field}"`);
  if (!Array.isArray(value))
    fail(where, `field "${field}" must be an array, got ${describe(value)}`);
  return value;
}

/** JSON.parse with the file named in the error. */
export function parseJson(text: string, source: string | undefined): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CocoInputError(inSource(source, `malformed JSON: ${(error as Error).message}`));
  }
}
