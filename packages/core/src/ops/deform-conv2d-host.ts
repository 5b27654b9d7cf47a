/**
 * Deformable-convolution sampling on typed arrays (the host side of `deformConv2d` on backends
 * whose tensors live in host memory: wasm, cpu). On wasm the tensor-op formulation costs a
 * gatherND of 4·B·Ho·Wo·G·kh·kw short rows plus as many scatter rows in the backward pass,
 * ~0.6 s per 80×80 level; these loops do the same arithmetic in tens of milliseconds.
 *
 * Semantics are torchvision's `deform_conv2d_kernel.cpp`: `bilinear_interpolate` for the
 * forward value (zero outside (-1, H) × (-1, W), corners off the map count as zero),
 * `deformable_col2im` for the input gradient (the same bilinear weights), and
 * `get_coordinate_weight` for the offset gradient (corners on the map, no inside test).
 *
 * Work goes tap by tap and every sum is rounded to float32 in the order of the tensor-op path
 * (corners 00, 01, 10, 11; channels ascending; scatter in (point, group, corner) order, taps
 * added in turn): both paths give the same bits, so training does not depend on the backend.
 */

import { deformSamplingSharedWasmBase64, deformSamplingWasmBase64 } from './deform-sampling-wasm';
import { type DeformThreadPool, startDeformThreadPool } from './deform-threads';

const f32 = Math.fround;

/** Geometry shared by the forward and backward loops. */
export interface HostDeformGeometry {
  batch: number;
  height: number;
  width: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  top: number;
  left: number;
  groups: number;
}

/**
 * The bilinear corners of every (output position p, group g) of one tap, (p, g) order, as flat
 * typed arrays (no per-point objects or callbacks: V8 keeps these loops tight).
 */
interface TapCorners {
  /** Element index of channel 0 of the group at corner 4·s + k (00, 01, 10, 11), −1 off the map. */
  pixel: Int32Array;
  /** bilinear_interpolate's weight (zero outside (-1, H) × (-1, W) or off the map). */
  weight: Float32Array;
  /** d weight / dy and d weight / dx of the corners on the map (get_coordinate_weight). */
  dWeightDy: Float32Array;
  dWeightDx: Float32Array;
}

/** One buffer for every call (JS runs one loop at a time): ~3 MB per tap not reallocated. */
let sharedCorners: TapCorners | null = null;

function tapCornersFor(samples: number): TapCorners {
  if (!sharedCorners || sharedCorners.pixel.length < samples * 4) {
    sharedCorners = {
      pixel: new Int32Array(samples * 4),
      weight: new Float32Array(samples * 4),
      dWeightDy: new Float32Array(samples * 4),
      dWeightDx: new Float32Array(samples * 4),
    };
  }
  return sharedCorners;
}

/**
 * Fills `corners` for tap `tap`. `offsets` `[B, Ho, Wo, G, K, 2]` flattened (torchvision's
 * channel order g·2K + 2k + {dy, dx}). A point with no corner on the map gets pixels −1.
 */
function fillTapCorners(
  geometry: HostDeformGeometry,
  offsets: Float32Array,
  tap: number,
  corners: TapCorners,
): void {
  const { batch, height, width, channels, outHeight, outWidth, kernelWidth, groups } = geometry;
  const taps = geometry.kernelHeight * kernelWidth;
  const groupChannels = channels / groups;
  const i = Math.floor(tap / kernelWidth);
  const j = tap % kernelWidth;
  const { pixel, weight, dWeightDy, dWeightDx } = corners;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      // Integer grid coordinates: exact in float32, as the tensor path's range · stride + tap.
      const rowBase = oy * geometry.strideHeight + i * geometry.dilationHeight - geometry.top;
      for (let ox = 0; ox < outWidth; ox++) {
        const colBase = ox * geometry.strideWidth + j * geometry.dilationWidth - geometry.left;
        const point = (b * outHeight + oy) * outWidth + ox;
        for (let g = 0; g < groups; g++) {
          const o = (point * groups * taps + g * taps + tap) * 2;
          const y = f32(rowBase + (offsets[o] as number));
          const x = f32(colBase + (offsets[o + 1] as number));
          const s = (point * groups + g) * 4;
          const y0 = Math.floor(y);
          const x0 = Math.floor(x);
          if (y0 < -1 || y0 >= height || x0 < -1 || x0 >= width) {
            pixel[s] = -1;
            pixel[s + 1] = -1;
            pixel[s + 2] = -1;
            pixel[s + 3] = -1;
            continue;
          }
          const ly = f32(y - y0);
          const lx = f32(x - x0);
          const hy = f32(1 - ly);
          const hx = f32(1 - lx);
          const inside = y > -1 && y < height && x > -1 && x < width;
          const onY0 = y0 >= 0;
          const onY1 = y0 + 1 < height;
          const onX0 = x0 >= 0;
          const onX1 = x0 + 1 < width;
          const base = ((b * height + y0) * width + x0) * channels + g * groupChannels;
          const on00 = onY0 && onX0;
          const on01 = onY0 && onX1;
          const on10 = onY1 && onX0;
          const on11 = onY1 && onX1;
          pixel[s] = on00 ? base : -1;
          pixel[s + 1] = on01 ? base + channels : -1;
          pixel[s + 2] = on10 ? base + width * channels : -1;
          pixel[s + 3] = on11 ? base + (width + 1) * channels : -1;
          weight[s] = on00 && inside ? f32(hy * hx) : 0;
          weight[s + 1] = on01 && inside ? f32(hy * lx) : 0;
          weight[s + 2] = on10 && inside ? f32(ly * hx) : 0;
          weight[s + 3] = on11 && inside ? f32(ly * lx) : 0;
          // d/dy of hy·(·) is −(·), of ly·(·) is +(·); likewise in x.
          dWeightDy[s] = on00 ? -hx : 0;
          dWeightDy[s + 1] = on01 ? -lx : 0;
          dWeightDy[s + 2] = on10 ? hx : 0;
          dWeightDy[s + 3] = on11 ? lx : 0;
          dWeightDx[s] = on00 ? -hy : 0;
          dWeightDx[s + 1] = on01 ? hy : 0;
          dWeightDx[s + 2] = on10 ? -ly : 0;
          dWeightDx[s + 3] = on11 ? ly : 0;
        }
      }
    }
  }
}

/**
 * Tap `tap`'s sampled column `[B·Ho·Wo, C]` (times the DCNv2 modulation when `mask`
 * `[B, Ho, Wo, G·K]` is given), so `Σ_tap column · filter[tap]` is the conv.
 */
export function deformTapColumn(
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | undefined,
  tap: number,
): Float32Array {
  const { channels, groups } = geometry;
  const taps = geometry.kernelHeight * geometry.kernelWidth;
  const groupChannels = channels / groups;
  const samples = geometry.batch * geometry.outHeight * geometry.outWidth * groups;
  const corners = tapCornersFor(samples);
  fillTapCorners(geometry, offsets, tap, corners);
  const { pixel, weight } = corners;
  const column = new Float32Array(samples * groupChannels);
  for (let sample = 0; sample < samples; sample++) {
    const s = sample * 4;
    // (p, g) order with G·(C/G) = C columns per point: the sample's channels are contiguous.
    const out = sample * groupChannels;
    const modulation = mask
      ? (mask[
          Math.floor(sample / groups) * groups * taps + (sample % groups) * taps + tap
        ] as number)
      : 1;
    // Off-map corners read pixel 0 with weight 0: the tensor path adds 0·v there, no change.
    const w0 = (pixel[s] as number) < 0 ? 0 : (weight[s] as number);
    const w1 = (pixel[s + 1] as number) < 0 ? 0 : (weight[s + 1] as number);
    const w2 = (pixel[s + 2] as number) < 0 ? 0 : (weight[s + 2] as number);
    const w3 = (pixel[s + 3] as number) < 0 ? 0 : (weight[s + 3] as number);
    if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0) continue;
    const p0 = Math.max(pixel[s] as number, 0);
    const p1 = Math.max(pixel[s + 1] as number, 0);
    const p2 = Math.max(pixel[s + 2] as number, 0);
    const p3 = Math.max(pixel[s + 3] as number, 0);
    // The tensor path's [1, 4] · [4, C/G] product: corners summed in order, rounded each step.
    for (let c = 0; c < groupChannels; c++) {
      const sum01 = f32(f32(w0 * (input[p0 + c] as number)) + f32(w1 * (input[p1 + c] as number)));
      const sum012 = f32(sum01 + f32(w2 * (input[p2 + c] as number)));
      column[out + c] = f32(sum012 + f32(w3 * (input[p3 + c] as number)));
    }
    if (mask) {
      for (let c = 0; c < groupChannels; c++) {
        column[out + c] = f32((column[out + c] as number) * modulation);
      }
    }
  }
  return column;
}

/** Accumulators of the backward pass: `[B, H, W, C]`, `[B, Ho, Wo, 2·G·K]`, `[B, Ho, Wo, G·K]`. */
export interface HostDeformGradients {
  input: Float32Array;
  offset: Float32Array;
  mask: Float32Array;
}

export function newDeformGradients(
  geometry: HostDeformGeometry,
  inputSize: number,
): HostDeformGradients {
  const samples =
    geometry.batch *
    geometry.outHeight *
    geometry.outWidth *
    geometry.groups *
    geometry.kernelHeight *
    geometry.kernelWidth;
  return {
    input: new Float32Array(inputSize),
    offset: new Float32Array(samples * 2),
    mask: new Float32Array(samples),
  };
}

/**
 * Adds tap `tap`'s gradients to `grads`, given `columnGrad` `[B·Ho·Wo, C]` (dL/d column of the
 * tap, `dy · filter[tap]ᵀ`). `scratch` is a zeroed buffer of the input's size (the tap's own
 * scatter, added to the input gradient afterwards, as the tensor path does); it is left zeroed.
 */
export function addDeformTapGradients(
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | undefined,
  tap: number,
  columnGrad: Float32Array,
  grads: HostDeformGradients,
  scratch: Float32Array,
): void {
  const { channels, groups } = geometry;
  const taps = geometry.kernelHeight * geometry.kernelWidth;
  const groupChannels = channels / groups;
  const samples = geometry.batch * geometry.outHeight * geometry.outWidth * groups;
  const corners = tapCornersFor(samples);
  fillTapCorners(geometry, offsets, tap, corners);
  const { pixel, weight, dWeightDy, dWeightDx } = corners;
  const dSampled = new Float32Array(groupChannels);
  for (let sample = 0; sample < samples; sample++) {
    const s = sample * 4;
    const p0 = pixel[s] as number;
    const p1 = pixel[s + 1] as number;
    const p2 = pixel[s + 2] as number;
    const p3 = pixel[s + 3] as number;
    if (p0 < 0 && p1 < 0 && p2 < 0 && p3 < 0) continue;
    const column = sample * groupChannels;
    const maskIndex = Math.floor(sample / groups) * groups * taps + (sample % groups) * taps + tap;
    if (mask) {
      const modulation = mask[maskIndex] as number;
      // Σ_c sampled · d(column): sampled accumulated per channel as in the forward pass.
      let gradMask = 0;
      for (let c = 0; c < groupChannels; c++) {
        const g = columnGrad[column + c] as number;
        dSampled[c] = f32(g * modulation);
        let sampled = 0;
        for (let k = 0; k < 4; k++) {
          const p = pixel[s + k] as number;
          const w = weight[s + k] as number;
          if (p >= 0 && w !== 0) sampled = f32(sampled + f32(w * (input[p + c] as number)));
        }
        gradMask = f32(gradMask + f32(sampled * g));
      }
      grads.mask[maskIndex] = gradMask;
    } else {
      for (let c = 0; c < groupChannels; c++) dSampled[c] = columnGrad[column + c] as number;
    }
    // The four corners side by side (independent sums, distinct pixels, so the order of
    // every rounded sum is the tensor path's): per corner Σ_c value · d(sampled), the
    // corner's share of the coordinate gradient, and its scatter w · d(sampled) (an off-map
    // corner adds ±0 in the tensor path: no change, skipped here).
    const w0 = weight[s] as number;
    const w1 = weight[s + 1] as number;
    const w2 = weight[s + 2] as number;
    const w3 = weight[s + 3] as number;
    let sum0 = 0;
    let sum1 = 0;
    let sum2 = 0;
    let sum3 = 0;
    if (p0 >= 0 && p1 >= 0 && p2 >= 0 && p3 >= 0) {
      for (let c = 0; c < groupChannels; c++) {
        const d = dSampled[c] as number;
        sum0 = f32(sum0 + f32((input[p0 + c] as number) * d));
        sum1 = f32(sum1 + f32((input[p1 + c] as number) * d));
        sum2 = f32(sum2 + f32((input[p2 + c] as number) * d));
        sum3 = f32(sum3 + f32((input[p3 + c] as number) * d));
        scratch[p0 + c] = f32((scratch[p0 + c] as number) + f32(w0 * d));
        scratch[p1 + c] = f32((scratch[p1 + c] as number) + f32(w1 * d));
        scratch[p2 + c] = f32((scratch[p2 + c] as number) + f32(w2 * d));
        scratch[p3 + c] = f32((scratch[p3 + c] as number) + f32(w3 * d));
      }
    } else {
      // At the border: only the corners on the map.
      for (let c = 0; c < groupChannels; c++) {
        const d = dSampled[c] as number;
        if (p0 >= 0) {
          sum0 = f32(sum0 + f32((input[p0 + c] as number) * d));
          scratch[p0 + c] = f32((scratch[p0 + c] as number) + f32(w0 * d));
        }
        if (p1 >= 0) {
          sum1 = f32(sum1 + f32((input[p1 + c] as number) * d));
          scratch[p1 + c] = f32((scratch[p1 + c] as number) + f32(w1 * d));
        }
        if (p2 >= 0) {
          sum2 = f32(sum2 + f32((input[p2 + c] as number) * d));
          scratch[p2 + c] = f32((scratch[p2 + c] as number) + f32(w2 * d));
        }
        if (p3 >= 0) {
          sum3 = f32(sum3 + f32((input[p3 + c] as number) * d));
          scratch[p3 + c] = f32((scratch[p3 + c] as number) + f32(w3 * d));
        }
      }
    }
    // Corners in order; an off-map corner's dWeight is 0 and adds +0 (no change).
    let gradY = 0;
    let gradX = 0;
    if (p0 >= 0) {
      gradY = f32(gradY + f32((dWeightDy[s] as number) * sum0));
      gradX = f32(gradX + f32((dWeightDx[s] as number) * sum0));
    }
    if (p1 >= 0) {
      gradY = f32(gradY + f32((dWeightDy[s + 1] as number) * sum1));
      gradX = f32(gradX + f32((dWeightDx[s + 1] as number) * sum1));
    }
    if (p2 >= 0) {
      gradY = f32(gradY + f32((dWeightDy[s + 2] as number) * sum2));
      gradX = f32(gradX + f32((dWeightDx[s + 2] as number) * sum2));
    }
    if (p3 >= 0) {
      gradY = f32(gradY + f32((dWeightDy[s + 3] as number) * sum3));
      gradX = f32(gradX + f32((dWeightDx[s + 3] as number) * sum3));
    }
    grads.offset[maskIndex * 2] = gradY;
    grads.offset[maskIndex * 2 + 1] = gradX;
  }
  // The tap's scatter added to the input gradient (as the tensor path's dInput + scatterND),
  // and the scratch zeroed for the next tap in the same pass.
  const inputGrad = grads.input;
  for (let index = 0; index < inputGrad.length; index++) {
    inputGrad[index] = f32((inputGrad[index] as number) + (scratch[index] as number));
    scratch[index] = 0;
  }
}

/**
 * The im2col rows of a deformable conv at some output positions only (`maskedDeformConv2d` on
 * host-memory backends): `[N, K·C]`, row n tap-major then channel (an HWIO filter's flattening),
 * sampled as `deformTapColumn` samples (same corners, weights and float32 order).
 * `positions` are flat b·Ho·Wo + y·Wo + x; `offsets` compact `[N, G, K, 2]` flattened
 * (torchvision's order g·2K + 2k + {dy, dx}); `modulation` compact `[N, G·K]`.
 */
export function deformColumnsAt(
  geometry: HostDeformGeometry,
  input: ArrayLike<number>,
  offsets: ArrayLike<number>,
  modulation: ArrayLike<number> | undefined,
  positions: Int32Array,
): Float32Array {
  const { height, width, channels, outHeight, outWidth, kernelWidth, groups } = geometry;
  const taps = geometry.kernelHeight * kernelWidth;
  const groupChannels = channels / groups;
  const grid = outHeight * outWidth;
  const rowWidth = taps * channels;
  const columns = new Float32Array(positions.length * rowWidth);
  for (let n = 0; n < positions.length; n++) {
    const p = positions[n] as number;
    const b = Math.floor(p / grid);
    const cell = p - b * grid;
    const oy = Math.floor(cell / outWidth);
    const ox = cell - oy * outWidth;
    for (let tap = 0; tap < taps; tap++) {
      const i = Math.floor(tap / kernelWidth);
      const j = tap - i * kernelWidth;
      const rowBase = oy * geometry.strideHeight + i * geometry.dilationHeight - geometry.top;
      const colBase = ox * geometry.strideWidth + j * geometry.dilationWidth - geometry.left;
      for (let g = 0; g < groups; g++) {
        const o = (n * groups * taps + g * taps + tap) * 2;
        const y = f32(rowBase + (offsets[o] as number));
        const x = f32(colBase + (offsets[o + 1] as number));
        // Zero outside (-1, H) × (-1, W) (bilinear_interpolate): the row stays 0.
        if (!(y > -1 && y < height && x > -1 && x < width)) continue;
        const y0 = Math.floor(y);
        const x0 = Math.floor(x);
        const ly = f32(y - y0);
        const lx = f32(x - x0);
        const hy = f32(1 - ly);
        const hx = f32(1 - lx);
        const onY0 = y0 >= 0;
        const onY1 = y0 + 1 < height;
        const onX0 = x0 >= 0;
        const onX1 = x0 + 1 < width;
        const base = ((b * height + y0) * width + x0) * channels + g * groupChannels;
        const w0 = onY0 && onX0 ? f32(hy * hx) : 0;
        const w1 = onY0 && onX1 ? f32(hy * lx) : 0;
        const w2 = onY1 && onX0 ? f32(ly * hx) : 0;
        const w3 = onY1 && onX1 ? f32(ly * lx) : 0;
        // Off-map corners read pixel 0 with weight 0, as `deformTapColumn`.
        const p0 = w0 === 0 ? 0 : base;
        const p1 = w1 === 0 ? 0 : base + channels;
        const p2 = w2 === 0 ? 0 : base + width * channels;
        const p3 = w3 === 0 ? 0 : base + (width + 1) * channels;
        const scale = modulation ? (modulation[n * groups * taps + g * taps + tap] as number) : 1;
        const out = n * rowWidth + tap * channels + g * groupChannels;
        for (let c = 0; c < groupChannels; c++) {
          const sum01 = f32(
            f32(w0 * (input[p0 + c] as number)) + f32(w1 * (input[p1 + c] as number)),
          );
          const sum012 = f32(sum01 + f32(w2 * (input[p2 + c] as number)));
          const value = f32(sum012 + f32(w3 * (input[p3 + c] as number)));
          columns[out + c] = modulation ? f32(value * scale) : value;
        }
      }
    }
  }
  return columns;
}

/**
 * One deformable conv's sampling, tap by tap: `column(tap)` in the forward pass,
 * `addGradients(tap, columnGrad)` then `gradients()` in the backward pass.
 */
export interface DeformTapSampler {
  /** Which implementation runs: the WebAssembly SIMD kernels or the typed-array loops. */
  readonly kernel: 'wasm' | 'js';
  /**
   * Tap `tap`'s column [B·Ho·Wo, C]. With `{ view: true }` the wasm kernels return a view of
   * their memory, valid until the next call (for a consumer that copies at once).
   */
  column(tap: number, options?: { view?: boolean }): Float32Array;
  addGradients(tap: number, columnGrad: Float32Array): void;
  gradients(): HostDeformGradients;
  /**
   * The wasm kernels only: the whole conv in the module (sampling and the per-tap products, the
   * wasm backend's matMul bits): output [B·Ho·Wo, O] of `filter` [kh·kw, C, O].
   */
  convolve?(filter: Float32Array, outChannels: number): Float32Array;
  /**
   * The wasm kernels only, forward only: `convolve` at the flat positions `rows` (ascending
   * B·Ho·Wo indices) of a sampler made with compact offsets ([rows, 2·G·kh·kw]); output
   * [rows, O], each row the bits `convolve` gives at that position. One thread.
   */
  convolveAt?(filter: Float32Array, outChannels: number, rows: Int32Array): Float32Array;
  /** The wasm kernels only: input, offset and filter ([kh·kw, C, O]) gradients from dL/d out. */
  convolveBackward?(
    dy: Float32Array,
    filter: Float32Array,
    outChannels: number,
  ): { input: Float32Array; offset: Float32Array; filter: Float32Array };
}

interface DeformWasmExports {
  memory: WebAssembly.Memory;
  setGeometry(...geometry: number[]): void;
  setOutChannels(outChannels: number): void;
  setPositions(at: number): void;
  convolve(...pointers: number[]): void;
  convolveBackward(...pointersAndLength: number[]): void;
  ensureMemory(bytes: number): void;
  tapColumn(
    input: number,
    offsets: number,
    tap: number,
    pixel: number,
    weight: number,
    dWeightDy: number,
    dWeightDx: number,
    column: number,
  ): void;
  tapGradients(
    input: number,
    offsets: number,
    tap: number,
    pixel: number,
    weight: number,
    dWeightDy: number,
    dWeightDx: number,
    columnGrad: number,
    offsetGrad: number,
    scratch: number,
    inputGrad: number,
    inputLength: number,
  ): void;
}

interface DeformWasmKernels {
  exports: DeformWasmExports;
  /** Helper threads on a shared memory (`setDeformConvThreads`), or null: this thread only. */
  pool: DeformThreadPool | null;
}

let wasmKernels: DeformWasmKernels | null | undefined;
let deformThreads = 1;

const decodeBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/**
 * Threads of the wasm deformable conv (this one included; default 1). `initBackend` sets it to
 * the wasm backend's thread count: the conv runs in our own module, between the backend's
 * kernels, so the backend's threads are idle meanwhile. More than 1 takes effect where Node
 * worker threads and shared memory exist (elsewhere one thread, silently); the results have the
 * same bits for every count.
 */
export function setDeformConvThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`setDeformConvThreads: threads must be an integer ≥ 1, got ${threads}`);
  }
  if (threads === deformThreads) return;
  deformThreads = threads;
  wasmKernels?.pool?.terminate();
  wasmKernels = undefined;
}

/** Threads the wasm deformable conv can use now (1 until its workers have started). */
export function deformConvThreads(): number {
  return loadWasmKernels()?.pool?.parts() ?? 1;
}

/** The compiled kernels, or null where WebAssembly (with SIMD) is unavailable. */
function loadWasmKernels(): DeformWasmKernels | null {
  if (wasmKernels !== undefined) return wasmKernels;
  try {
    const pool =
      deformThreads > 1
        ? startDeformThreadPool(decodeBase64(deformSamplingSharedWasmBase64), deformThreads)
        : null;
    if (pool) {
      wasmKernels = { exports: pool.exports as unknown as DeformWasmExports, pool };
    } else {
      // 8 KB: synchronous compiles of this size work in Node and in workers; a browser's main
      // thread may refuse them (Chrome: above 4 KB), and then the typed-array loops run.
      const module = new WebAssembly.Module(decodeBase64(deformSamplingWasmBase64));
      const instance = new WebAssembly.Instance(module, {});
      wasmKernels = { exports: instance.exports as unknown as DeformWasmExports, pool: null };
    }
  } catch {
    wasmKernels = null;
  }
  return wasmKernels;
}

/**
 * The sampler of one deformable conv: the WebAssembly SIMD kernels (~5× the typed-array loops;
 * same bits, tested) unless `kernel` says `'js'`, a DCNv2 mask is given (the kernels have no
 * modulation) or WebAssembly SIMD is unavailable.
 */
export function deformTapSampler(
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | undefined,
  kernel: 'auto' | 'wasm' | 'js' = 'auto',
): DeformTapSampler {
  const wasm = kernel === 'js' || mask !== undefined ? null : loadWasmKernels();
  if (kernel === 'wasm' && !wasm) {
    throw new Error(
      mask !== undefined
        ? 'deformTapSampler: the wasm kernels take no DCNv2 mask'
        : 'deformTapSampler: WebAssembly SIMD is unavailable here',
    );
  }
  if (!wasm) return jsTapSampler(geometry, input, offsets, mask);
  return wasmTapSampler(wasm, geometry, input, offsets);
}

function jsTapSampler(
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | undefined,
): DeformTapSampler {
  let grads: HostDeformGradients | undefined;
  let scratch: Float32Array | undefined;
  return {
    kernel: 'js',
    column: (tap) => deformTapColumn(geometry, input, offsets, mask, tap),
    addGradients(tap, columnGrad) {
      grads ??= newDeformGradients(geometry, input.length);
      scratch ??= new Float32Array(input.length);
      addDeformTapGradients(geometry, input, offsets, mask, tap, columnGrad, grads, scratch);
    },
    gradients: () => grads ?? newDeformGradients(geometry, input.length),
  };
}

/** Output positions below which a fused pass is not split between threads. */
const minimumSharePoints = 256;

function wasmTapSampler(
  kernels: DeformWasmKernels,
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
): DeformTapSampler {
  const wasm = kernels.exports;
  const taps = geometry.kernelHeight * geometry.kernelWidth;
  const samples = geometry.batch * geometry.outHeight * geometry.outWidth * geometry.groups;
  const columnLength = samples * (geometry.channels / geometry.groups);
  // Byte layout in the module's memory, 16-byte aligned: inputs, corners, then per pass.
  let end = 0;
  const take = (floats: number) => {
    const at = end;
    end += Math.ceil((floats * 4) / 16) * 16;
    return at;
  };
  const inputAt = take(input.length);
  const offsetsAt = take(offsets.length);
  // Corners of one chunk of output positions (the kernels' `chunkPoints`) at a time.
  const chunkSamples = 64 * geometry.groups * 4;
  const pixelAt = take(chunkSamples);
  const weightAt = take(chunkSamples);
  const dWeightDyAt = take(chunkSamples);
  const dWeightDxAt = take(chunkSamples);
  const columnAt = take(columnLength);
  const scratchAt = take(input.length);
  const inputGradAt = take(input.length);
  const offsetGradAt = take(samples * taps * 2);
  const floats = () => new Float32Array(wasm.memory.buffer);
  /**
   * The module is shared by every conv (the forward passes of several levels run before their
   * backward passes), so each pass loads its geometry and data again.
   */
  const points = geometry.batch * geometry.outHeight * geometry.outWidth;
  /**
   * The fused conv's buffers after the sampler's own: filter, output / dy, filter grad, then per
   * thread its corner and chunk buffers (thread 0 uses the sampler's corners).
   */
  const fusedLayout = (outChannels: number, threads: number) => {
    const channels = geometry.channels;
    let fusedEnd = end;
    const takeFused = (count: number) => {
      const at = fusedEnd;
      fusedEnd += Math.ceil((count * 4) / 16) * 16;
      return at;
    };
    const filterAt = takeFused(taps * channels * outChannels);
    const outAt = takeFused(points * outChannels);
    const filterGradAt = takeFused(taps * channels * outChannels);
    const buffers = Array.from({ length: threads }, (_, thread) => ({
      pixel: thread === 0 ? pixelAt : takeFused(chunkSamples),
      weight: thread === 0 ? weightAt : takeFused(chunkSamples),
      dWeightDy: thread === 0 ? dWeightDyAt : takeFused(chunkSamples),
      dWeightDx: thread === 0 ? dWeightDxAt : takeFused(chunkSamples),
      column: takeFused(64 * channels),
      columnGrad: takeFused(64 * channels),
    }));
    return { filterAt, outAt, filterGradAt, buffers, end: fusedEnd };
  };
  /** `convolve`'s pointers for one thread (its corner and chunk buffers), before the row range. */
  const forwardArguments = (fused: ReturnType<typeof fusedLayout>, thread: number) => {
    const buffers = fused.buffers[thread] as (typeof fused.buffers)[number];
    return [
      inputAt,
      offsetsAt,
      fused.filterAt,
      buffers.pixel,
      buffers.weight,
      buffers.dWeightDy,
      buffers.dWeightDx,
      buffers.column,
      fused.outAt,
    ];
  };
  const geometryWords = [
    geometry.batch,
    geometry.height,
    geometry.width,
    geometry.channels,
    geometry.outHeight,
    geometry.outWidth,
    geometry.kernelHeight,
    geometry.kernelWidth,
    geometry.strideHeight,
    geometry.strideWidth,
    geometry.dilationHeight,
    geometry.dilationWidth,
    geometry.top,
    geometry.left,
    geometry.groups,
  ];
  /**
   * Threads of a fused pass: at most `limit` (its units), and one per `minimumSharePoints` output
   * positions (waking a worker costs tens of microseconds; a 5×5 level is not worth it).
   */
  const threadsOf = (limit: number, rows = points) =>
    Math.max(1, Math.min(kernels.pool?.parts() ?? 1, limit, Math.floor(rows / minimumSharePoints)));
  /** Units of whole 64-row chunks (rows are independent) for `threads`, as [start, end) bounds. */
  const chunkBounds = (rows: number, threads: number) => {
    const chunks = Math.ceil(rows / 64);
    const units = threads > 1 ? Math.min(chunks, 16) : 1;
    return Array.from({ length: units + 1 }, (_, unit) =>
      Math.min(rows, Math.round((chunks * unit) / units) * 64),
    );
  };
  const load = (backward: boolean, bytes = end) => {
    wasm.ensureMemory(bytes);
    wasm.setGeometry(...geometryWords);
    const heap = floats();
    heap.set(input, inputAt / 4);
    heap.set(offsets, offsetsAt / 4);
    if (backward) {
      heap.fill(0, scratchAt / 4, scratchAt / 4 + input.length);
      heap.fill(0, inputGradAt / 4, inputGradAt / 4 + input.length);
      heap.fill(0, offsetGradAt / 4, offsetGradAt / 4 + samples * taps * 2);
    }
  };
  let loaded: 'forward' | 'backward' | undefined;
  return {
    kernel: 'wasm',
    column(tap, options) {
      if (loaded !== 'forward') load(false);
      loaded = 'forward';
      wasm.tapColumn(
        inputAt,
        offsetsAt,
        tap,
        pixelAt,
        weightAt,
        dWeightDyAt,
        dWeightDxAt,
        columnAt,
      );
      const values = floats().subarray(columnAt / 4, columnAt / 4 + columnLength);
      return options?.view ? values : values.slice();
    },
    addGradients(tap, columnGrad) {
      if (loaded !== 'backward') load(true);
      loaded = 'backward';
      floats().set(columnGrad.subarray(0, columnLength), columnAt / 4);
      wasm.tapGradients(
        inputAt,
        offsetsAt,
        tap,
        pixelAt,
        weightAt,
        dWeightDyAt,
        dWeightDxAt,
        columnAt,
        offsetGradAt,
        scratchAt,
        inputGradAt,
        input.length,
      );
    },
    convolve(filter, outChannels) {
      const threads = threadsOf(Number.POSITIVE_INFINITY);
      const fused = fusedLayout(outChannels, threads);
      load(false, fused.end);
      loaded = undefined;
      wasm.setOutChannels(outChannels);
      floats().set(filter, fused.filterAt / 4);
      const bounds = chunkBounds(points, threads);
      const threadArguments = (thread: number) => forwardArguments(fused, thread);
      if (kernels.pool && threads > 1) {
        kernels.pool.run('convolve', geometryWords, outChannels, threads, threadArguments, bounds);
      } else {
        wasm.convolve(...threadArguments(0), 0, points);
      }
      return floats().slice(fused.outAt / 4, fused.outAt / 4 + points * outChannels);
    },
    convolveAt(filter, outChannels, rows) {
      const threads = threadsOf(Number.POSITIVE_INFINITY, rows.length);
      const fused = fusedLayout(outChannels, threads);
      const positionsAt = fused.end;
      load(false, positionsAt + rows.length * 4);
      loaded = undefined;
      wasm.setOutChannels(outChannels);
      floats().set(filter, fused.filterAt / 4);
      new Int32Array(wasm.memory.buffer).set(rows, positionsAt / 4);
      const bounds = chunkBounds(rows.length, threads);
      const threadArguments = (thread: number) => forwardArguments(fused, thread);
      if (kernels.pool && threads > 1) {
        kernels.pool.run(
          'convolve',
          geometryWords,
          outChannels,
          threads,
          threadArguments,
          bounds,
          positionsAt,
        );
      } else {
        wasm.setPositions(positionsAt);
        try {
          wasm.convolve(...threadArguments(0), 0, rows.length);
        } finally {
          // The module is shared with the dense convs, whose rows are the grid.
          wasm.setPositions(0);
        }
      }
      return floats().slice(fused.outAt / 4, fused.outAt / 4 + rows.length * outChannels);
    },
    convolveBackward(dy, filter, outChannels) {
      const groups = geometry.groups;
      const threads = threadsOf(groups);
      const fused = fusedLayout(outChannels, threads);
      load(true, fused.end);
      loaded = undefined;
      wasm.setOutChannels(outChannels);
      const heap = floats();
      // The filter as [taps, O, C] (the backward products read it transposed).
      const channels = geometry.channels;
      const transposedAt = fused.filterAt / 4;
      for (let tap = 0; tap < taps; tap++) {
        for (let c = 0; c < channels; c++) {
          for (let o = 0; o < outChannels; o++) {
            heap[transposedAt + (tap * outChannels + o) * channels + c] = filter[
              (tap * channels + c) * outChannels + o
            ] as number;
          }
        }
      }
      heap.set(dy, fused.outAt / 4);
      // One unit per offset group (a group's values are its own), claimed by the threads.
      const bounds = Array.from({ length: (threads > 1 ? groups : 1) + 1 }, (_, unit) =>
        threads > 1 ? unit : unit * groups,
      );
      const threadArguments = (thread: number) => {
        const buffers = fused.buffers[thread] as (typeof fused.buffers)[number];
        return [
          inputAt,
          offsetsAt,
          fused.filterAt,
          fused.outAt,
          buffers.pixel,
          buffers.weight,
          buffers.dWeightDy,
          buffers.dWeightDx,
          buffers.column,
          buffers.columnGrad,
          offsetGradAt,
          scratchAt,
          inputGradAt,
          input.length,
          fused.filterGradAt,
        ];
      };
      if (kernels.pool && threads > 1) {
        kernels.pool.run(
          'convolveBackward',
          geometryWords,
          outChannels,
          threads,
          threadArguments,
          bounds,
        );
      } else {
        wasm.convolveBackward(...threadArguments(0), 0, groups);
      }
      const after = floats();
      return {
        input: after.slice(inputGradAt / 4, inputGradAt / 4 + input.length),
        offset: after.slice(offsetGradAt / 4, offsetGradAt / 4 + samples * taps * 2),
        filter: after.slice(
          fused.filterGradAt / 4,
          fused.filterGradAt / 4 + taps * channels * outChannels,
        ),
      };
    },
    gradients() {
      if (loaded !== 'backward') load(true);
      const heap = floats();
      return {
        input: heap.slice(inputGradAt / 4, inputGradAt / 4 + input.length),
        offset: heap.slice(offsetGradAt / 4, offsetGradAt / 4 + samples * taps * 2),
        mask: new Float32Array(samples * taps),
      };
    },
  };
}
