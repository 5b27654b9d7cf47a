import * as tf from '@tensorflow/tfjs-core';

/**
 * JavaScript kernels that replace tfjs-backend-wasm 4.22's own where those are slow (measured
 * in the tiny RetinaNet training step, `packages/detectors/bench/step-time.mjs --profile`).
 * Each moves data or takes an exact max, so it returns what the kernel it replaces returns
 * (MaxPoolGrad: what the cpu backend's returns, which wasm's own gets wrong); the tests compare
 * each with that kernel. 1 thread, CPU time:
 *
 * - `Slice`, `SplitV`, `Unpack`: wasm's Slice copies the WHOLE input out of the heap
 *   (`readSync`) on every call, then one `subarray` per innermost row, so a column of a
 *   [N, 4] box tensor costs N tiny copies (`tf.split(boxes, 4, 1)` on 19,206 anchors: 4.5 ms,
 *   here 1.1). Here the input is read in place and short rows are copied element by element.
 * - `MaxPoolGrad`: wasm's kernel rescans windows per input position (23 ms for the ResNet
 *   stem's 3×3/2 pool on 2×160×160×16, here 9) and starts each max at 0, so windows of only
 *   negative values pass no gradient. Here each window's first maximum (as the cpu backend
 *   picks it) receives dy once, summed in double precision as on cpu.
 * - `Transpose`: wasm's generic path above rank 4 is slow (8.6 ms for the rank-6 filter
 *   shuffle of the stride-2 input gradient, here 1.2) and it never merges adjacent axes
 *   (NHWC → CHWN is a rank-3 move: 0.86 → 0.59 ms through wasm's kernel on the merged shape).
 * - `Concat` off axis 0: wasm's kernel is JavaScript that takes a `subarray` per input per outer
 *   row, so joining a [3200, 1] and a [3200, 16] (MetaAnchor's generated filters with their
 *   bias column) costs 0.35–0.5 ms of CPU; here short rows are copied element by element (as
 *   `Slice`): 0.10 ms.
 * - `BatchMatMul` with `transposeA` / `transposeB`: wasm's kernel runs a transposed operand
 *   ~15× slower than a plain product (the gradients of a [256, 1568] × [1568, 128] dense layer,
 *   the Faster R-CNN box head's: 52 and 46 ms, here 3.1 and 4.8), so the operand is transposed
 *   explicitly (the Transpose below) and the plain kernel runs. Untransposed products are
 *   wasm's own, untouched. The sums then run in XNNPACK's order rather than the transposed
 *   kernel's (same values to float32 rounding; tested against the cpu backend).
 * - Not replaced: `Identity` / same-dtype `Cast` as zero-copy views (as the cpu backend's) cut
 *   the tape's 727 clones per step, but together with this Transpose they made the tiny
 *   Meta-RPN overfit test's weights NaN (2026-11-30, not root-caused), so wasm's copies stay.
 */

interface WasmBackend extends tf.KernelBackend {
  incRef(dataId: tf.DataId): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type HeapArray = Float32Array | Int32Array | Uint8Array;

/**
 * A tensor's heap memory for copying: 4-byte dtypes as Int32Array bits (exact, NaN payloads
 * included), bool as bytes. One array type for float32 and int32 keeps the copy loops'
 * element accesses monomorphic; mixing Float32Array and Int32Array made them ~10× slower.
 */
function heapBits(backend: WasmBackend, info: tf.TensorInfo): Int32Array | Uint8Array {
  const view = backend.typedArrayFromHeap(info);
  return view instanceof Uint8Array
    ? view
    : new Int32Array(view.buffer, view.byteOffset, view.length);
}

/** Below this many elements per innermost run, element copies beat `subarray` + `set`. */
const shortRun = 32;

/** Copies the box `begin`…`begin + size` of `x` (row-major, `shape`) into `out`. */
function copyBox(
  x: HeapArray,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  out: HeapArray,
): void {
  const rank = shape.length;
  if (out.length === 0) return;
  if (rank === 0) {
    out[0] = x[0] as number;
    return;
  }
  const strides = tf.util.computeStrides(shape as number[]);
  // Merge the trailing axes the box covers entirely into one contiguous run.
  let innerAxis = rank - 1;
  let run = size[innerAxis] as number;
  while (innerAxis > 0 && size[innerAxis] === shape[innerAxis]) {
    innerAxis--;
    run *= size[innerAxis] as number;
  }
  if (innerAxis === 0 && size[0] === shape[0]) {
    out.set(x.subarray(0, run));
    return;
  }
  // Runs along `innerAxis` are contiguous: `run` elements from offset(begin).
  const runStart = (index: number[]) => {
    let offset = 0;
    for (let axis = 0; axis < rank; axis++) {
      offset += ((begin[axis] as number) + (index[axis] as number)) * (strides[axis] ?? 1);
    }
    return offset;
  };
  const index = new Array<number>(rank).fill(0);
  let written = 0;
  const total = out.length;
  while (written < total) {
    const start = runStart(index);
    if (run >= shortRun) {
      out.set(x.subarray(start, start + run), written);
    } else {
      for (let i = 0; i < run; i++) out[written + i] = x[start + i] as number;
    }
    written += run;
    // Advance the multi-index over the axes before innerAxis.
    for (let axis = innerAxis - 1; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      if ((index[axis] as number) < (size[axis] as number)) break;
      index[axis] = 0;
    }
  }
}

function sliceInto(
  backend: WasmBackend,
  x: tf.TensorInfo,
  begin: readonly number[],
  size: readonly number[],
): tf.TensorInfo {
  const out = backend.makeOutput([...size], x.dtype);
  // Views after makeOutput: it may grow the heap, which detaches earlier views.
  copyBox(heapBits(backend, x), x.shape, begin, size, heapBits(backend, out));
  return out;
}

/** Strings live outside the heap: those keep the stock kernel. */
const stockFor = (kernelName: string): tf.KernelFunc => {
  const stock = stockWasmKernels.get(kernelName);
  if (!stock) throw new Error(`det wasm kernels: no stock ${kernelName} kernel to fall back to`);
  return stock.kernelFunc;
};

const sliceKernel: tf.KernelFunc = (args) => {
  const { inputs, attrs, backend } = args;
  const x = (inputs as tf.NamedTensorInfoMap).x as tf.TensorInfo;
  if (x.dtype === 'string') return stockFor(tf.Slice)(args);
  const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [start, extent] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size) as [
    number[],
    number[],
  ];
  tf.slice_util.assertParamsValid(x as tf.Tensor, start, extent);
  return sliceInto(backend as WasmBackend, x, start, extent);
};

const splitVKernel: tf.KernelFunc = (args) => {
  const { inputs, attrs, backend } = args;
  const x = (inputs as tf.NamedTensorInfoMap).x as tf.TensorInfo;
  if (x.dtype === 'string') return stockFor(tf.SplitV)(args);
  const { numOrSizeSplits, axis } = attrs as unknown as {
    numOrSizeSplits: number | number[];
    axis: number;
  };
  const splitAxis = tf.util.parseAxisParam(axis, x.shape)[0] as number;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, splitAxis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[splitAxis] = s;
    const out = sliceInto(backend as WasmBackend, x, begin, size);
    begin[splitAxis] = (begin[splitAxis] as number) + s;
    return out;
  });
};

const unpackKernel: tf.KernelFunc = (args) => {
  const { inputs, attrs, backend } = args;
  const value = (inputs as tf.NamedTensorInfoMap).value as tf.TensorInfo;
  if (value.dtype === 'string') return stockFor(tf.Unpack)(args);
  const rank = value.shape.length;
  const axis = (((attrs as unknown as { axis: number }).axis % rank) + rank) % rank;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(rank).fill(0);
  const size = [...value.shape];
  size[axis] = 1;
  return Array.from({ length: value.shape[axis] as number }, (_, i) => {
    begin[axis] = i;
    const out = sliceInto(backend as WasmBackend, value, begin, size);
    return { ...out, shape: outShape };
  });
};

/**
 * A transpose with its size-1 axes dropped and the input axes that stay adjacent and in order
 * merged: `dims` (merged input shape) and `order` (merged perm). NHWC → CHWN, e.g., is the
 * rank-3 [N, HW, C] → [C, HW, N].
 */
function mergeTranspose(
  shape: readonly number[],
  perm: readonly number[],
): { dims: number[]; order: number[] } {
  const kept = shape.map((_, axis) => axis).filter((axis) => shape[axis] !== 1);
  const position = new Map(kept.map((axis, i) => [axis, i]));
  const groups: number[][] = [];
  for (const axis of perm) {
    if (shape[axis] === 1) continue;
    const at = position.get(axis) as number;
    const last = groups[groups.length - 1];
    if (last && (last[last.length - 1] as number) + 1 === at) last.push(at);
    else groups.push([at]);
  }
  const inOrder = [...groups].sort((a, b) => (a[0] as number) - (b[0] as number));
  const dims = inOrder.map((group) =>
    group.reduce((size, at) => size * (shape[kept[at] as number] as number), 1),
  );
  return { dims, order: groups.map((group) => inOrder.indexOf(group)) };
}

/** Writes `x` (row-major, `dims`) transposed by `order` into `out`, walking the output. */
function transposeInto(
  x: HeapArray,
  dims: readonly number[],
  order: readonly number[],
  out: HeapArray,
): void {
  const rank = dims.length;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let axis = rank - 2; axis >= 0; axis--) {
    strides[axis] = (strides[axis + 1] as number) * (dims[axis + 1] as number);
  }
  const loop = order.map((axis) => dims[axis] as number);
  const read = order.map((axis) => strides[axis] as number);
  const inner = loop[rank - 1] as number;
  const rows = loop[rank - 2] as number;
  const [readInner, readRow] = [read[rank - 1] as number, read[rank - 2] as number];
  const index = new Array<number>(rank - 2).fill(0);
  let written = 0;
  while (written < out.length) {
    let from = 0;
    for (let axis = 0; axis < rank - 2; axis++) {
      from += (index[axis] as number) * (read[axis] as number);
    }
    for (let row = 0; row < rows; row++) {
      const src = from + row * readRow;
      for (let i = 0; i < inner; i++) out[written++] = x[src + i * readInner] as number;
    }
    for (let axis = rank - 3; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      if ((index[axis] as number) < (loop[axis] as number)) break;
      index[axis] = 0;
    }
  }
}

/**
 * Merged to rank ≤ 1 or 2–4, wasm's own kernel on the
 * merged shape; above that (wasm's generic path: 12 ms for a 131k-element filter), a loop.
 */
const transposeKernel: tf.KernelFunc = (args) => {
  const { inputs, attrs, backend } = args;
  const x = (inputs as tf.NamedTensorInfoMap).x as tf.TensorInfo;
  const { perm } = attrs as unknown as { perm: number[] };
  const outShape = perm.map((axis) => x.shape[axis] as number);
  if (x.dtype === 'string') return stockFor(tf.Transpose)(args);
  const wasm = backend as WasmBackend;
  const { dims, order } = mergeTranspose(x.shape, perm);
  if (dims.length <= 4) {
    const merged = stockFor(tf.Transpose)({
      inputs: { x: { ...x, shape: dims } },
      attrs: { perm: order } as unknown as tf.NamedAttrMap,
      backend,
    }) as tf.TensorInfo;
    return { ...merged, shape: outShape };
  }
  const out = wasm.makeOutput(outShape, x.dtype);
  transposeInto(heapBits(wasm, x), dims, order, heapBits(wasm, out));
  return out;
};

const maxPoolGradKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const { dy, input } = inputs as tf.NamedTensorInfoMap as {
    dy: tf.TensorInfo;
    input: tf.TensorInfo;
  };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const wasm = backend as WasmBackend;
  const out = wasm.makeOutput([...input.shape], 'float32');
  // Heap views are taken after makeOutput (which may grow the heap) and used before returning.
  // Sums in double precision, rounded once at the end, as the cpu backend does.
  const dx = new Float64Array(tf.util.sizeFromShape(input.shape));
  const x = wasm.typedArrayFromHeap(input) as Float32Array;
  const g = wasm.typedArrayFromHeap(dy) as Float32Array;
  const { batchSize, inHeight, inWidth, outHeight, outWidth, inChannels: channels } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { effectiveFilterHeight, effectiveFilterWidth } = info;
  const { top, left } = info.padInfo;
  const threeByThree =
    effectiveFilterHeight === 3 &&
    effectiveFilterWidth === 3 &&
    dilationHeight === 1 &&
    dilationWidth === 1;
  const rowStride = inWidth * channels;
  // The window's taps inside the input, as offsets of their channel 0, row-major.
  const taps = new Int32Array(
    Math.ceil(effectiveFilterHeight / dilationHeight) *
      Math.ceil(effectiveFilterWidth / dilationWidth),
  );
  for (let b = 0; b < batchSize; b++) {
    const xBatch = b * inHeight * inWidth * channels;
    for (let oy = 0; oy < outHeight; oy++) {
      const yStart = oy * strideHeight - top;
      for (let ox = 0; ox < outWidth; ox++) {
        const xStart = ox * strideWidth - left;
        const dyBase = ((b * outHeight + oy) * outWidth + ox) * channels;
        if (
          threeByThree &&
          yStart >= 0 &&
          yStart + 2 < inHeight &&
          xStart >= 0 &&
          xStart + 2 < inWidth
        ) {
          // A 3×3 window inside the input (the ResNet stem's pool): the same first-maximum
          // search, unrolled; ~2× faster than the tap loop below.
          const row0 = xBatch + (yStart * inWidth + xStart) * channels;
          for (let c = 0; c < channels; c++) {
            let best = Number.NEGATIVE_INFINITY;
            let at = -1;
            for (let r = 0, index = row0 + c; r < 3; r++, index += rowStride) {
              let v = x[index] as number;
              if (v > best) {
                best = v;
                at = index;
              }
              v = x[index + channels] as number;
              if (v > best) {
                best = v;
                at = index + channels;
              }
              v = x[index + 2 * channels] as number;
              if (v > best) {
                best = v;
                at = index + 2 * channels;
              }
            }
            if (at >= 0) dx[at] = (dx[at] as number) + (g[dyBase + c] as number);
          }
          continue;
        }
        let count = 0;
        for (let fy = 0; fy < effectiveFilterHeight; fy += dilationHeight) {
          const iy = yStart + fy;
          if (iy < 0 || iy >= inHeight) continue;
          for (let fx = 0; fx < effectiveFilterWidth; fx += dilationWidth) {
            const ix = xStart + fx;
            if (ix >= 0 && ix < inWidth) taps[count++] = xBatch + (iy * inWidth + ix) * channels;
          }
        }
        for (let c = 0; c < channels; c++) {
          // A strict `>` from -∞: the first maximum wins, as on cpu.
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let t = 0; t < count; t++) {
            const index = (taps[t] as number) + c;
            const v = x[index] as number;
            if (v > best) {
              best = v;
              at = index;
            }
          }
          if (at >= 0) dx[at] = (dx[at] as number) + (g[dyBase + c] as number);
        }
      }
    }
  }
  (wasm.typedArrayFromHeap(out) as Float32Array).set(dx);
  return out;
};

const concatKernel: tf.KernelFunc = (args) => {
  const inputs = args.inputs as unknown as tf.TensorInfo[];
  const wasm = args.backend as WasmBackend;
  const first = inputs[0];
  if (!first || first.dtype === 'string' || first.dtype === 'complex64') {
    return stockFor(tf.Concat)(args);
  }
  const axis = tf.util.parseAxisParam(
    (args.attrs as unknown as { axis: number }).axis,
    first.shape,
  )[0] as number;
  const parts = inputs.filter((input) => tf.util.sizeFromShape(input.shape) > 0);
  // One input, all empty or axis 0 (contiguous blocks): wasm's own is a copy per input.
  if (parts.length <= 1 || axis === 0) return stockFor(tf.Concat)(args);
  const outShape = tf.backend_util.computeOutShape(
    inputs.map((input) => input.shape),
    axis,
  );
  const out = wasm.makeOutput(outShape, first.dtype);
  // Views after makeOutput: it may grow the heap, which detaches earlier views.
  const target = heapBits(wasm, out);
  const outer = tf.util.sizeFromShape(first.shape.slice(0, axis));
  const rowLength = tf.util.sizeFromShape(outShape.slice(axis));
  let column = 0;
  for (const part of parts) {
    const source = heapBits(wasm, part);
    const run = tf.util.sizeFromShape(part.shape.slice(axis));
    for (let row = 0; row < outer; row++) {
      const from = row * run;
      const to = row * rowLength + column;
      if (run >= shortRun) {
        target.set(source.subarray(from, from + run), to);
      } else {
        for (let i = 0; i < run; i++) target[to + i] = source[from + i] as number;
      }
    }
    column += run;
  }
  return out;
};

/** Swaps the last two axes of `x` through the Transpose replacement. */
function transposeLastTwo(x: tf.TensorInfo, backend: tf.KernelBackend): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array.from({ length: rank - 2 }, (_, axis) => axis), rank - 1, rank - 2];
  return transposeKernel({
    inputs: { x },
    attrs: { perm } as unknown as tf.NamedAttrMap,
    backend,
  }) as tf.TensorInfo;
}

const batchMatMulKernel: tf.KernelFunc = (args) => {
  const { inputs, attrs } = args;
  const backend = args.backend as tf.KernelBackend;
  const { a, b } = inputs as tf.NamedTensorInfoMap as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as {
    transposeA: boolean;
    transposeB: boolean;
  };
  const stock = stockFor(tf.BatchMatMul);
  if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return stock(args);
  }
  const plainA = transposeA ? transposeLastTwo(a, backend) : a;
  const plainB = transposeB ? transposeLastTwo(b, backend) : b;
  try {
    return stock({
      inputs: { a: plainA, b: plainB },
      attrs: { ...attrs, transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap,
      backend,
    });
  } finally {
    if (plainA !== a) backend.disposeData(plainA.dataId);
    if (plainB !== b) backend.disposeData(plainB.dataId);
  }
};

const replacements: Array<{ kernelName: string; kernelFunc: tf.KernelFunc }> = [
  { kernelName: tf.Slice, kernelFunc: sliceKernel },
  { kernelName: tf.SplitV, kernelFunc: splitVKernel },
  { kernelName: tf.Unpack, kernelFunc: unpackKernel },
  { kernelName: tf.MaxPoolGrad, kernelFunc: maxPoolGradKernel },
  { kernelName: tf.Transpose, kernelFunc: transposeKernel },
  { kernelName: tf.BatchMatMul, kernelFunc: batchMatMulKernel },
  { kernelName: tf.Concat, kernelFunc: concatKernel },
];

/** The wasm kernels these replace, kept so tests can compare with them. */
export const stockWasmKernels = new Map<string, tf.KernelConfig>();

/**
 * Registers the replacements on the `wasm` backend (idempotent); a no-op elsewhere. Returns
 * the kernel names replaced. `initBackend` calls it.
 */
export function registerWasmKernels(backendName: string): string[] {
  if (backendName !== 'wasm') return [];
  for (const { kernelName, kernelFunc } of replacements) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current?.kernelFunc === kernelFunc) continue;
    if (current) {
      if (!stockWasmKernels.has(kernelName)) stockWasmKernels.set(kernelName, current);
      tf.unregisterKernel(kernelName, 'wasm');
    }
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  return replacements.map((r) => r.kernelName);
}

/**
 * Puts tfjs-backend-wasm's own kernels back (`registerWasmKernels` replaces them again), so a
 * benchmark can compare both in one process.
 */
export function restoreStockWasmKernels(): void {
  for (const [kernelName, config] of stockWasmKernels) {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(config);
  }
}
