/**
 * A small reader/writer for the safetensors format (https://github.com/huggingface/safetensors):
 * an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then
 * the raw little-endian tensor data, offsets relative to the end of the header.
 *
 * Only what det needs: F32, I32 and, on read, F16/BF16 → F32, F64 → F32 and I64 → I32.
 */

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64';

/** A decoded tensor: float types become float32, integer types int32. */
export interface SafetensorsTensor {
  dtype: 'float32' | 'int32';
  /** The dtype stored in the file. */
  storedDtype: SafetensorsDtype;
  shape: number[];
  values: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** A tensor to write: float32 data is stored as F32, int32 as I32. */
export interface SafetensorsInput {
  shape: number[];
  values: Float32Array | Int32Array;
}

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I32: 4,
  I64: 8,
};

/** Headers larger than this are refused as malformed (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE 754 half → float32 (subnormals, infinities and NaN included). */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(BYTES_PER_ELEMENT, value);
}

function decode(
  view: DataView,
  byteOffset: number,
  dtype: SafetensorsDtype,
  count: number,
  fail: (message: string) => never,
): Float32Array | Int32Array {
  switch (dtype) {
    case 'F32': {
      if (HOST_IS_LITTLE_ENDIAN) {
        // slice() copies, so the result is aligned whatever the offset in the file.
        const start = view.byteOffset + byteOffset;
        return new Float32Array(view.buffer.slice(start, start + count * 4) as ArrayBuffer);
      }
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(byteOffset + i * 4, true);
      return out;
    }
    case 'I32': {
      if (HOST_IS_LITTLE_ENDIAN) {
        const start = view.byteOffset + byteOffset;
        return new Int32Array(view.buffer.slice(start, start + count * 4) as ArrayBuffer);
      }
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(byteOffset + i * 4, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++)
        out[i] = halfToFloat(view.getUint16(byteOffset + i * 2, true));
      return out;
    }
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(byteOffset + i * 2, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(byteOffset + i * 8, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const value = view.getBigInt64(byteOffset + i * 8, true);
        if (value > 2147483647n || value < -2147483648n) {
          fail(`int64 value ${value} at index ${i} does not fit in int32`);
        }
        out[i] = Number(value);
      }
      return out;
    }
  }
}

/**
 * Parses a safetensors file. `source` names the file in errors. A truncated or malformed
 * file throws an error naming the file and, where one is at fault, the tensor.
 */
export function parseSafetensors(bytes: Uint8Array, source = '<bytes>'): SafetensorsFile {
  const fail = (message: string): never => {
    throw new Error(`${source}: ${message}`);
  };
  if (bytes.byteLength < 8) {
    fail(
      `not a safetensors file: ${bytes.byteLength} bytes, shorter than the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8) || headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(
      `header length ${headerLength} exceeds the ${bytes.byteLength - 8} bytes after it (truncated or not a safetensors file)`,
    );
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)),
    );
  } catch (error) {
    fail(`malformed JSON header: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail('the JSON header is not an object');
  }
  const dataLength = bytes.byteLength - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const failTensor = (message: string): never => fail(`tensor '${name}': ${message}`);
    if (typeof entry !== 'object' || entry === null) failTensor('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) {
      failTensor(
        `unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(BYTES_PER_ELEMENT).join(', ')})`,
      );
    }
    const storedDtype = dtype as SafetensorsDtype;
    if (
      !Array.isArray(shape) ||
      !shape.every((dim) => Number.isSafeInteger(dim) && (dim as number) >= 0)
    ) {
      failTensor(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((offset) => Number.isSafeInteger(offset) && (offset as number) >= 0)
    ) {
      failTensor(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    const count = dims.reduce((a, b) => a * b, 1);
    const expectedBytes = count * BYTES_PER_ELEMENT[storedDtype];
    if (end < begin || end - begin !== expectedBytes) {
      failTensor(
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${storedDtype} ${JSON.stringify(dims)} needs ${expectedBytes}`,
      );
    }
    if (end > dataLength) {
      failTensor(
        `data_offsets [${begin}, ${end}] run past the ${dataLength} data bytes in the file (truncated?)`,
      );
    }
    const values = decode(view, dataStart + begin, storedDtype, count, failTensor);
    tensors.set(name, {
      dtype: storedDtype === 'I32' || storedDtype === 'I64' ? 'int32' : 'float32',
      storedDtype,
      shape: dims,
      values,
    });
  }
  return { tensors, metadata };
}

/** Serialises tensors (in the given order) with optional string metadata. */
export function serializeSafetensors(
  tensors: Iterable<[string, SafetensorsInput]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (name === '__metadata__') throw new Error("'__metadata__' is reserved in safetensors");
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    if (count !== tensor.values.length) {
      throw new Error(
        `tensor '${name}': shape ${JSON.stringify(tensor.shape)} holds ${count} values, got ${tensor.values.length}`,
      );
    }
    const dtype = tensor.values instanceof Float32Array ? 'F32' : 'I32';
    const values = tensor.values;
    let chunk: Uint8Array;
    if (HOST_IS_LITTLE_ENDIAN) {
      chunk = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    } else {
      chunk = new Uint8Array(count * 4);
      const chunkView = new DataView(chunk.buffer);
      for (let i = 0; i < count; i++) {
        if (dtype === 'F32') chunkView.setFloat32(i * 4, values[i] as number, true);
        else chunkView.setInt32(i * 4, values[i] as number, true);
      }
    }
    header[name] = {
      dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + chunk.byteLength],
    };
    chunks.push(chunk);
    offset += chunk.byteLength;
  }
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const padding = (8 - (headerBytes.byteLength % 8)) % 8;
  if (padding > 0) {
    json += ' '.repeat(padding);
    headerBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.byteLength;
  }
  return out;
}
