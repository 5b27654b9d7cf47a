import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  deformConvThreads,
  deformTapSampler,
  type HostDeformGeometry,
  setDeformConvThreads,
} from './deform-conv2d-host';

/** A seeded stream in [-0.5, 0.5). */
function stream(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648 - 0.5;
  };
}

interface Case {
  name: string;
  batch: number;
  size: [number, number];
  channels: number;
  groups: number;
  kernel: [number, number];
  stride: number;
  dilation: number;
  pad: number;
  /** Spread of the offsets in pixels (large: many points off the map). */
  spread: number;
  special?: boolean;
}

/** GA's feature adaption at a small size; each case below changes what it names. */
const base: Case = {
  name: 'GA-like, 8 channels per group',
  batch: 2,
  size: [9, 11],
  channels: 32,
  groups: 4,
  kernel: [3, 3],
  stride: 1,
  dilation: 1,
  pad: 1,
  spread: 3,
};
const cases: Case[] = [
  base,
  {
    ...base,
    name: '3 channels per group (scalar lanes only)',
    batch: 1,
    size: [6, 5],
    channels: 6,
    groups: 2,
    spread: 2,
  },
  {
    ...base,
    name: '5 channels per group (4 + 1)',
    batch: 3,
    size: [7, 7],
    channels: 5,
    groups: 1,
    kernel: [3, 2],
    stride: 2,
    pad: 0,
    spread: 4,
  },
  {
    ...base,
    name: 'dilated, padded, far offsets',
    size: [8, 6],
    channels: 12,
    groups: 3,
    dilation: 2,
    pad: 2,
    spread: 20,
  },
  { ...base, name: 'one-pixel-wide map', size: [5, 1], channels: 4, groups: 1, spread: 1.5 },
  {
    ...base,
    name: 'NaN, ±Infinity, exact borders',
    batch: 1,
    size: [6, 6],
    channels: 8,
    groups: 2,
    spread: 2,
    special: true,
  },
  {
    ...base,
    name: 'NaN, ±Infinity, exact borders, four groups (SIMD corners)',
    batch: 1,
    size: [6, 7],
    channels: 16,
    groups: 4,
    spread: 3,
    special: true,
  },
  {
    ...base,
    name: 'six groups (four in SIMD lanes, two alone)',
    size: [5, 6],
    channels: 12,
    groups: 6,
    spread: 6,
  },
];

function geometryOf(c: Case): HostDeformGeometry {
  const [height, width] = c.size;
  const [kh, kw] = c.kernel;
  const outHeight = Math.floor((height + 2 * c.pad - c.dilation * (kh - 1) - 1) / c.stride) + 1;
  const outWidth = Math.floor((width + 2 * c.pad - c.dilation * (kw - 1) - 1) / c.stride) + 1;
  return {
    batch: c.batch,
    height,
    width,
    channels: c.channels,
    outHeight,
    outWidth,
    kernelHeight: kh,
    kernelWidth: kw,
    strideHeight: c.stride,
    strideWidth: c.stride,
    dilationHeight: c.dilation,
    dilationWidth: c.dilation,
    top: c.pad,
    left: c.pad,
    groups: c.groups,
  };
}

/** Column, every gradient of one conv through `kernel`. */
function runSampler(
  kernel: 'js' | 'wasm',
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
  columnGrads: Float32Array[],
) {
  const taps = geometry.kernelHeight * geometry.kernelWidth;
  const forward = deformTapSampler(geometry, input, offsets, undefined, kernel);
  expect(forward.kernel).toBe(kernel);
  const columns = Array.from({ length: taps }, (_, tap) => forward.column(tap));
  const backward = deformTapSampler(geometry, input, offsets, undefined, kernel);
  columnGrads.forEach((grad, tap) => {
    backward.addGradients(tap, grad);
  });
  const { input: dInput, offset: dOffset } = backward.gradients();
  return [...columns, dInput, dOffset];
}

describe('deformTapSampler: the WebAssembly SIMD kernels give the typed-array loops’ bits', () => {
  for (const c of cases) {
    it(c.name, () => {
      const geometry = geometryOf(c);
      const random = stream(c.channels * 31 + c.batch);
      const taps = c.kernel[0] * c.kernel[1];
      const points = geometry.batch * geometry.outHeight * geometry.outWidth;
      const input = Float32Array.from(
        { length: c.batch * c.size[0] * c.size[1] * c.channels },
        random,
      );
      const offsets = Float32Array.from(
        { length: points * 2 * c.groups * taps },
        () => random() * 2 * c.spread,
      );
      if (c.special) {
        // Points exactly on the -1 border, at H - 1, NaN and infinite offsets.
        offsets[0] = 0;
        offsets[2] = Number.NaN;
        offsets[5] = Number.POSITIVE_INFINITY;
        offsets[8] = Number.NEGATIVE_INFINITY;
        offsets[11] = -1 - 0.5;
        offsets[20] = 4.5;
        offsets[40] = Number.NaN;
        offsets[57] = 1e30;
        offsets[63] = -1e30;
      }
      const columnGrads = Array.from({ length: taps }, () =>
        Float32Array.from({ length: points * c.channels }, random),
      );
      const js = runSampler('js', geometry, input, offsets, columnGrads);
      const wasm = runSampler('wasm', geometry, input, offsets, columnGrads);
      expect(wasm.length).toBe(js.length);
      js.forEach((values, k) => {
        // Bit patterns, so NaN and ±0 count too.
        expect(new Uint32Array((wasm[k] as Float32Array).buffer)).toEqual(
          new Uint32Array(values.buffer),
        );
      });
      // Something was sampled: the comparison is not between two zero buffers.
      expect(js[0]?.some((v) => v !== 0)).toBe(true);
    });
  }

  it('keeps its bits across convs of other sizes sharing the module (forward, forward, backward)', () => {
    const small = cases[1] as Case;
    const large = cases[0] as Case;
    const build = (c: Case) => {
      const geometry = geometryOf(c);
      const random = stream(7);
      const taps = c.kernel[0] * c.kernel[1];
      const points = geometry.batch * geometry.outHeight * geometry.outWidth;
      return {
        geometry,
        input: Float32Array.from({ length: c.batch * c.size[0] * c.size[1] * c.channels }, random),
        offsets: Float32Array.from({ length: points * 2 * c.groups * taps }, () => random() * 4),
        grads: Array.from({ length: taps }, () =>
          Float32Array.from({ length: points * c.channels }, random),
        ),
      };
    };
    const a = build(small);
    const b = build(large);
    const alone = runSampler('wasm', a.geometry, a.input, a.offsets, a.grads);
    runSampler('wasm', b.geometry, b.input, b.offsets, b.grads);
    const after = runSampler('wasm', a.geometry, a.input, a.offsets, a.grads);
    alone.forEach((values, k) => {
      expect(Array.from(after[k] as Float32Array)).toEqual(Array.from(values));
    });
  });

  it('handles an empty batch and refuses a DCNv2 mask on the wasm kernels', () => {
    const geometry = { ...geometryOf(cases[1] as Case), batch: 0 };
    const sampler = deformTapSampler(
      geometry,
      new Float32Array(0),
      new Float32Array(0),
      undefined,
      'wasm',
    );
    expect(sampler.column(0).length).toBe(0);
    expect(sampler.gradients().input.length).toBe(0);
    expect(() =>
      deformTapSampler(
        geometry,
        new Float32Array(0),
        new Float32Array(0),
        new Float32Array(0),
        'wasm',
      ),
    ).toThrow(/no DCNv2 mask/);
    expect(
      deformTapSampler(geometry, new Float32Array(0), new Float32Array(0), new Float32Array(0))
        .kernel,
    ).toBe('js');
  });

  it('the committed module is the compiled assembly/deform-sampling.ts', () => {
    const script = fileURLToPath(new URL('../../scripts/build-wasm.mjs', import.meta.url));
    const out = execFileSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    expect(out).toMatch(/matches its source/);
  }, 60_000);
});

describe('deformTapSampler: the fused conv on helper threads', () => {
  /** The fused forward and every gradient of one conv (fresh sampler), on the current threads. */
  function fused(c: Case, outChannels: number, seed: number) {
    const geometry = geometryOf(c);
    const random = stream(seed);
    const points = geometry.batch * geometry.outHeight * geometry.outWidth;
    const taps = geometry.kernelHeight * geometry.kernelWidth;
    const input = Float32Array.from(
      { length: c.batch * c.size[0] * c.size[1] * c.channels },
      random,
    );
    const offsets = Float32Array.from(
      { length: points * 2 * c.groups * taps },
      () => random() * c.spread * 2,
    );
    const filter = Float32Array.from({ length: taps * c.channels * outChannels }, random);
    const dy = Float32Array.from({ length: points * outChannels }, random);
    const sampler = deformTapSampler(geometry, input, offsets, undefined, 'wasm');
    const out = sampler.convolve?.(filter, outChannels) as Float32Array;
    const grads = sampler.convolveBackward?.(dy, filter, outChannels);
    return [out, grads?.input, grads?.offset, grads?.filter] as Float32Array[];
  }

  async function threadsReady(threads: number) {
    setDeformConvThreads(threads);
    const started = Date.now();
    while (deformConvThreads() < threads && Date.now() - started < 20_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return deformConvThreads();
  }

  // ≥ 3 · 256 output positions each, so every pass is split three ways (backward: by groups).
  const threaded: Array<[Case, number]> = [
    [{ ...base, name: 'GA-RPN-like P3', size: [20, 20], spread: 4 }, 32],
    [{ ...base, name: '5 channels, one group', size: [23, 17], channels: 5, groups: 1 }, 7],
    [{ ...base, name: '3 groups of 4, 13 outputs', size: [27, 19], channels: 12, groups: 3 }, 13],
    [
      {
        ...base,
        name: '2 groups, far offsets',
        size: [16, 24],
        channels: 8,
        groups: 2,
        spread: 20,
      },
      9,
    ],
  ];

  it('gives the bits of one thread, with 2 and 3 threads, then again with 1', async () => {
    try {
      const alone: Float32Array[][] = threaded.map(([c, o], k) => fused(c, o, 11 + k));
      for (const threads of [2, 3]) {
        expect(await threadsReady(threads)).toBe(threads);
        threaded.forEach(([c, o], k) => {
          const withThreads = fused(c, o, 11 + k);
          withThreads.forEach((values, part) => {
            const reference = (alone[k] as Float32Array[])[part] as Float32Array;
            expect(values.length, `${c.name} part ${part}`).toBe(reference.length);
            expect(
              Buffer.from(values.buffer).equals(Buffer.from(reference.buffer)),
              `${c.name} part ${part} with ${threads} threads`,
            ).toBe(true);
          });
        });
      }
    } finally {
      setDeformConvThreads(1);
    }
    expect(deformConvThreads()).toBe(1);
    const again = fused(threaded[0]?.[0] as Case, 32, 11);
    expect(again[0]?.length).toBe(2 * 20 * 20 * 32);
  }, 60_000);

  it('computes kept positions on the threads with the dense rows’ bits (sparse inference)', async () => {
    /** Every 5th position dropped (80 % kept, scattered): the dense rows there and `convolveAt`'s. */
    function atKept(c: Case, outChannels: number, seed: number) {
      const geometry = geometryOf(c);
      const random = stream(seed);
      const points = geometry.batch * geometry.outHeight * geometry.outWidth;
      const taps = geometry.kernelHeight * geometry.kernelWidth;
      const perPoint = 2 * c.groups * taps;
      const input = Float32Array.from(
        { length: c.batch * c.size[0] * c.size[1] * c.channels },
        random,
      );
      const offsets = Float32Array.from(
        { length: points * perPoint },
        () => random() * c.spread * 2,
      );
      const filter = Float32Array.from({ length: taps * c.channels * outChannels }, random);
      const rows = Int32Array.from(
        Array.from({ length: points }, (_, p) => p).filter((p) => (p * 7919) % 5 !== 0),
      );
      const dense = deformTapSampler(geometry, input, offsets, undefined, 'wasm').convolve?.(
        filter,
        outChannels,
      ) as Float32Array;
      const compact = new Float32Array(rows.length * perPoint);
      rows.forEach((p, n) => {
        compact.set(offsets.subarray(p * perPoint, (p + 1) * perPoint), n * perPoint);
      });
      const kept = deformTapSampler(geometry, input, compact, undefined, 'wasm').convolveAt?.(
        filter,
        outChannels,
        rows,
      ) as Float32Array;
      const expected = new Float32Array(rows.length * outChannels);
      rows.forEach((p, n) => {
        expected.set(dense.subarray(p * outChannels, (p + 1) * outChannels), n * outChannels);
      });
      return { kept, expected, rows: rows.length };
    }
    const c: Case = { ...base, name: '3 groups of 4', size: [27, 19], channels: 12, groups: 3 };
    try {
      const alone = atKept(c, 13, 5);
      // 820 kept rows: split 3 ways with 3 threads (≥ 256 rows a share).
      expect(alone.rows).toBe(820);
      expect(Buffer.from(alone.kept.buffer).equals(Buffer.from(alone.expected.buffer))).toBe(true);
      for (const threads of [2, 3]) {
        expect(await threadsReady(threads)).toBe(threads);
        const shared = atKept(c, 13, 5);
        expect(
          Buffer.from(shared.kept.buffer).equals(Buffer.from(alone.kept.buffer)),
          `${threads} threads`,
        ).toBe(true);
        // The workers' modules serve the grid again: a dense conv right after keeps its bits.
        const again = atKept(c, 13, 5);
        expect(Buffer.from(again.expected.buffer).equals(Buffer.from(alone.expected.buffer))).toBe(
          true,
        );
      }
    } finally {
      setDeformConvThreads(1);
    }
  }, 60_000);

  it('rejects a thread count that is not a positive integer', () => {
    expect(() => setDeformConvThreads(0)).toThrow(/integer ≥ 1, got 0/);
    expect(() => setDeformConvThreads(1.5)).toThrow(/got 1.5/);
  });
});
