import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors, serializeSafetensors } from './safetensors';
import { fixturesDir } from './test-helpers';

function headerOf(bytes: Uint8Array): { length: number; json: Record<string, unknown> } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { length, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) };
}

/** A file with the given header JSON and data bytes. */
function withHeader(header: unknown, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

describe('parseSafetensors', () => {
  const path = join(fixturesDir, 'dtypes.safetensors');
  const file = parseSafetensors(readFileSync(path), path);
  const values = (name: string) => Array.from(file.tensors.get(name)?.values ?? []);

  it('converts F16 and BF16 to float32 exactly as torch does (written by torch)', () => {
    expect(file.tensors.get('half')).toMatchObject({ dtype: 'float32', storedDtype: 'F16' });
    expect(values('half')).toEqual(values('half_expected'));
    expect(file.tensors.get('brain')).toMatchObject({ storedDtype: 'BF16', shape: [5, 5] });
    expect(values('brain')).toEqual(values('brain_expected'));
  });

  it('reads I64 as int32 and I32 as is, scalars and empty tensors', () => {
    expect(file.tensors.get('long')).toMatchObject({ dtype: 'int32', storedDtype: 'I64' });
    expect(values('long')).toEqual(values('long_expected'));
    expect(file.tensors.get('int')).toMatchObject({ dtype: 'int32', shape: [2, 3] });
    expect(values('int')).toEqual(values('long_expected'));
    expect(file.tensors.get('scalar')).toMatchObject({
      shape: [],
      values: new Float32Array([2.5]),
    });
    expect(file.tensors.get('empty')).toMatchObject({ shape: [0, 4], values: new Float32Array(0) });
    expect(file.metadata).toEqual({ source: 'scripts/fixtures/backbone_torchvision.py' });
  });

  it('round-trips what serializeSafetensors writes, 8-byte aligned', () => {
    const bytes = serializeSafetensors(
      [
        ['a.weight', { shape: [2, 3], values: new Float32Array([1, -2, 3.5, 0, 1e-30, -7]) }],
        ['b', { shape: [3], values: new Int32Array([1, -1, 2147483647]) }],
        ['empty', { shape: [0], values: new Float32Array(0) }],
      ],
      { format: 'det' },
    );
    const { length, json } = headerOf(bytes);
    expect(length % 8).toBe(0);
    expect(json.__metadata__).toEqual({ format: 'det' });
    expect(json['a.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    const parsed = parseSafetensors(bytes);
    expect([...parsed.tensors.keys()]).toEqual(['a.weight', 'b', 'empty']);
    expect(parsed.tensors.get('a.weight')?.values).toEqual(
      new Float32Array([1, -2, 3.5, 0, 1e-30, -7]),
    );
    expect(parsed.tensors.get('b')).toMatchObject({ dtype: 'int32', storedDtype: 'I32' });
    expect(parsed.tensors.get('b')?.values).toEqual(new Int32Array([1, -1, 2147483647]));
  });

  it('reads from a Uint8Array that is a view at an odd offset into a larger buffer', () => {
    const bytes = serializeSafetensors([['x', { shape: [2], values: new Float32Array([1.5, 2]) }]]);
    const padded = new Uint8Array(bytes.byteLength + 3);
    padded.set(bytes, 3);
    expect(parseSafetensors(padded.subarray(3)).tensors.get('x')?.values).toEqual(
      new Float32Array([1.5, 2]),
    );
  });

  it('names the file and the tensor when the data is truncated', () => {
    const bytes = serializeSafetensors([
      ['first', { shape: [4], values: new Float32Array(4) }],
      ['layer1.0.conv1.weight', { shape: [2, 2], values: new Float32Array(4) }],
    ]);
    expect(() =>
      parseSafetensors(bytes.subarray(0, bytes.byteLength - 1), 'model.safetensors'),
    ).toThrow(
      "model.safetensors: tensor 'layer1.0.conv1.weight': data_offsets [16, 32] run past the 31 data bytes in the file (truncated?)",
    );
    expect(() => parseSafetensors(bytes.subarray(0, 20), 'cut.safetensors')).toThrow(
      /^cut\.safetensors: header length \d+ exceeds the 12 bytes after it/,
    );
    expect(() => parseSafetensors(bytes.subarray(0, 5), 'tiny.safetensors')).toThrow(
      'tiny.safetensors: not a safetensors file: 5 bytes',
    );
  });

  it('rejects malformed headers with the file and tensor named', () => {
    const garbage = new Uint8Array(16);
    new DataView(garbage.buffer).setBigUint64(0, 8n, true);
    garbage.set(new TextEncoder().encode('{"a": 1'), 8);
    expect(() => parseSafetensors(garbage, 'bad.safetensors')).toThrow(
      /^bad\.safetensors: malformed JSON header/,
    );
    expect(() => parseSafetensors(withHeader([1, 2]), 'f')).toThrow(
      'f: the JSON header is not an object',
    );
    expect(() =>
      parseSafetensors(withHeader({ w: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }), 'f'),
    ).toThrow(`f: tensor 'w': unsupported dtype "U8"`);
    expect(() =>
      parseSafetensors(
        withHeader({ w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 0] } }),
        'f',
      ),
    ).toThrow(`f: tensor 'w': shape [2,-1] is not a list of non-negative integers`);
    expect(() =>
      parseSafetensors(
        withHeader({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
        'f',
      ),
    ).toThrow(`f: tensor 'w': data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12`);
    expect(() => parseSafetensors(withHeader({ w: { dtype: 'F32', shape: [3] } }), 'f')).toThrow(
      `f: tensor 'w': data_offsets undefined is not a pair of non-negative integers`,
    );
  });

  it('refuses int64 values that do not fit in int32', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigInt64(0, 2n ** 40n, true);
    expect(() =>
      parseSafetensors(
        withHeader({ step: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data),
        'ckpt.safetensors',
      ),
    ).toThrow(
      `ckpt.safetensors: tensor 'step': int64 value 1099511627776 at index 0 does not fit in int32`,
    );
  });
});
