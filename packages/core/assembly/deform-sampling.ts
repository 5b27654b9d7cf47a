// AssemblyScript source of the deformable-convolution sampling kernels (compiled to
// src/ops/deform-sampling-wasm.ts by scripts/build-wasm.mjs). Same arithmetic as the typed-array
// loops of src/ops/deform-conv2d-host.ts, float32 op for op: SIMD lanes run over channels, or
// over the four corners where a sum runs over channels, so every rounded sum keeps its order.
// All buffers live in this module's memory; the caller lays them out and passes byte offsets.

let batch: i32 = 0;
let height: i32 = 0;
let width: i32 = 0;
let channels: i32 = 0;
let outHeight: i32 = 0;
let outWidth: i32 = 0;
let kernelWidth: i32 = 0;
let taps: i32 = 0;
let strideHeight: i32 = 0;
let strideWidth: i32 = 0;
let dilationHeight: i32 = 0;
let dilationWidth: i32 = 0;
let top: i32 = 0;
let left: i32 = 0;
let groups: i32 = 0;
let groupChannels: i32 = 0;
/**
 * 0: output rows are the positions of the dense grid, in order. Else the byte offset of an i32
 * list: row r is flat position positions[r] (B·Ho·Wo index) and its offsets are row r of a
 * compact [rows, 2·G·taps] offset buffer (masked deformable conv: the kept positions only).
 */
let positions: usize = 0;

/** Sets (or, with 0, clears) the position list of `convolve`'s rows; see `positions`. */
export function setPositions(at: usize): void {
  positions = at;
}

export function setGeometry(
  b: i32,
  h: i32,
  w: i32,
  c: i32,
  oh: i32,
  ow: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  dh: i32,
  dw: i32,
  t: i32,
  l: i32,
  g: i32,
): void {
  batch = b;
  height = h;
  width = w;
  channels = c;
  outHeight = oh;
  outWidth = ow;
  kernelWidth = kw;
  taps = kh * kw;
  strideHeight = sh;
  strideWidth = sw;
  dilationHeight = dh;
  dilationWidth = dw;
  top = t;
  left = l;
  groups = g;
  groupChannels = c / g;
}

/** Bytes of memory; grows by whole 64 KiB pages. */
export function ensureMemory(bytes: i32): void {
  const have = memory.size() << 16;
  if (bytes > have) memory.grow(((bytes - have + 0xffff) >>> 16) as i32);
}

/** Output positions per chunk: the chunk's corners (64 · G samples × 64 bytes) stay in L1. */
const chunkPoints = 64;

/**
 * The corners of tap `tap` for output positions [firstPoint, firstPoint + points) and groups
 * [firstGroup, endGroup), at sample index − firstPoint·G of the corner buffers: fillTapCorners of
 * the JS loops.
 */
function fillTapCorners(
  offsets: usize,
  tap: i32,
  firstPoint: i32,
  points: i32,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
  firstGroup: i32,
  endGroup: i32,
): void {
  const i = tap / kernelWidth;
  const j = tap % kernelWidth;
  const fHeight = <f32>height;
  const fWidth = <f32>width;
  const grid = outHeight * outWidth;
  let b = firstPoint / grid;
  let oy = (firstPoint - b * grid) / outWidth;
  let ox = firstPoint - b * grid - oy * outWidth;
  for (let point = firstPoint; point < firstPoint + points; point++) {
    if (positions !== 0) {
      const at = load<i32>(positions + ((<usize>point) << 2));
      b = at / grid;
      oy = (at - b * grid) / outWidth;
      ox = at - b * grid - oy * outWidth;
    }
    const rowBase = <f32>(oy * strideHeight + i * dilationHeight - top);
    const colBase = <f32>(ox * strideWidth + j * dilationWidth - left);
    let g = firstGroup;
    // Four groups at a time in SIMD lanes (GA's feature adaption has exactly four).
    for (; g + 4 <= endGroup; g += 4) {
      fillCorners4(offsets, tap, point, g, rowBase, colBase, b, firstPoint, pixel, weight, dWeightDy, dWeightDx);
    }
    for (; g < endGroup; g++) {
      const o = (point * groups * taps + g * taps + tap) * 2;
      const y: f32 = rowBase + load<f32>(offsets + ((<usize>o) << 2));
      const x: f32 = colBase + load<f32>(offsets + ((<usize>(o + 1)) << 2));
      const s = <usize>(((point - firstPoint) * groups + g) * 4);
      const y0f = Mathf.floor(y);
      const x0f = Mathf.floor(x);
      const pixelAt = pixel + (s << 2);
      // NaN fails these tests too: no corner on the map, as in the JS loops.
      if (!(y0f >= -1 && y0f < fHeight && x0f >= -1 && x0f < fWidth)) {
        v128.store(pixelAt, i32x4.splat(-1));
        continue;
      }
      const y0 = <i32>y0f;
      const x0 = <i32>x0f;
      const ly: f32 = y - y0f;
      const lx: f32 = x - x0f;
      const hy: f32 = 1 - ly;
      const hx: f32 = 1 - lx;
      const inside = y > -1 && y < fHeight && x > -1 && x < fWidth;
      const onY0 = y0 >= 0;
      const onY1 = y0 + 1 < height;
      const onX0 = x0 >= 0;
      const onX1 = x0 + 1 < width;
      const base = ((b * height + y0) * width + x0) * channels + g * groupChannels;
      const on00 = onY0 && onX0;
      const on01 = onY0 && onX1;
      const on10 = onY1 && onX0;
      const on11 = onY1 && onX1;
      store<i32>(pixelAt, on00 ? base : -1);
      store<i32>(pixelAt + 4, on01 ? base + channels : -1);
      store<i32>(pixelAt + 8, on10 ? base + width * channels : -1);
      store<i32>(pixelAt + 12, on11 ? base + (width + 1) * channels : -1);
      const weightAt = weight + (s << 2);
      store<f32>(weightAt, on00 && inside ? hy * hx : 0);
      store<f32>(weightAt + 4, on01 && inside ? hy * lx : 0);
      store<f32>(weightAt + 8, on10 && inside ? ly * hx : 0);
      store<f32>(weightAt + 12, on11 && inside ? ly * lx : 0);
      const dyAt = dWeightDy + (s << 2);
      store<f32>(dyAt, on00 ? -hx : 0);
      store<f32>(dyAt + 4, on01 ? -lx : 0);
      store<f32>(dyAt + 8, on10 ? hx : 0);
      store<f32>(dyAt + 12, on11 ? lx : 0);
      const dxAt = dWeightDx + (s << 2);
      store<f32>(dxAt, on00 ? -hy : 0);
      store<f32>(dxAt + 4, on01 ? hy : 0);
      store<f32>(dxAt + 8, on10 ? -ly : 0);
      store<f32>(dxAt + 12, on11 ? ly : 0);
    }
    // Next output position: x, then y, then image.
    ox++;
    if (ox === outWidth) {
      ox = 0;
      oy++;
      if (oy === outHeight) {
        oy = 0;
        b++;
      }
    }
  }
}

/** Row-major 4×4 transpose: lane l of rows c0…c3 becomes row l. */
@inline
function storeTransposed(at: usize, c0: v128, c1: v128, c2: v128, c3: v128): void {
  const t0 = i32x4.shuffle(c0, c1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(c0, c1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(c2, c3, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(c2, c3, 2, 6, 3, 7);
  v128.store(at, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(at + 16, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(at + 32, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(at + 48, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

/**
 * fillTapCorners' body for groups g … g + 3 of one output position, lanes = groups: the same
 * float32 operations lane by lane (add, floor, subtract, multiply, negate are exact per lane),
 * stored per sample (corners 00, 01, 10, 11) by a transpose. A lane whose floor is off the map
 * stores pixel −1 at every corner; its weights are never read (as in the scalar body).
 */
@inline
function fillCorners4(
  offsets: usize,
  tap: i32,
  point: i32,
  g: i32,
  rowBase: f32,
  colBase: f32,
  b: i32,
  firstPoint: i32,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
): void {
  const groupStride = (<usize>(taps * 2)) << 2;
  const at = offsets + ((<usize>((point * groups * taps + g * taps + tap) * 2)) << 2);
  let offY = f32x4.splat(load<f32>(at));
  let offX = f32x4.splat(load<f32>(at + 4));
  offY = f32x4.replace_lane(offY, 1, load<f32>(at + groupStride));
  offX = f32x4.replace_lane(offX, 1, load<f32>(at + groupStride + 4));
  offY = f32x4.replace_lane(offY, 2, load<f32>(at + 2 * groupStride));
  offX = f32x4.replace_lane(offX, 2, load<f32>(at + 2 * groupStride + 4));
  offY = f32x4.replace_lane(offY, 3, load<f32>(at + 3 * groupStride));
  offX = f32x4.replace_lane(offX, 3, load<f32>(at + 3 * groupStride + 4));
  const y = f32x4.add(f32x4.splat(rowBase), offY);
  const x = f32x4.add(f32x4.splat(colBase), offX);
  const y0f = f32x4.floor(y);
  const x0f = f32x4.floor(x);
  const minusOne = f32x4.splat(-1);
  const fHeight = f32x4.splat(<f32>height);
  const fWidth = f32x4.splat(<f32>width);
  // NaN fails these tests too: no corner on the map, as in the JS loops.
  const valid = v128.and(
    v128.and(f32x4.ge(y0f, minusOne), f32x4.lt(y0f, fHeight)),
    v128.and(f32x4.ge(x0f, minusOne), f32x4.lt(x0f, fWidth)),
  );
  const y0 = i32x4.trunc_sat_f32x4_s(y0f);
  const x0 = i32x4.trunc_sat_f32x4_s(x0f);
  const ly = f32x4.sub(y, y0f);
  const lx = f32x4.sub(x, x0f);
  const one = f32x4.splat(1);
  const hy = f32x4.sub(one, ly);
  const hx = f32x4.sub(one, lx);
  const inside = v128.and(
    v128.and(f32x4.gt(y, minusOne), f32x4.lt(y, fHeight)),
    v128.and(f32x4.gt(x, minusOne), f32x4.lt(x, fWidth)),
  );
  const zero = i32x4.splat(0);
  const onY0 = i32x4.ge_s(y0, zero);
  const onY1 = i32x4.lt_s(i32x4.add(y0, i32x4.splat(1)), i32x4.splat(height));
  const onX0 = i32x4.ge_s(x0, zero);
  const onX1 = i32x4.lt_s(i32x4.add(x0, i32x4.splat(1)), i32x4.splat(width));
  let groupChannelOffsets = i32x4.splat(g * groupChannels);
  groupChannelOffsets = i32x4.replace_lane(groupChannelOffsets, 1, (g + 1) * groupChannels);
  groupChannelOffsets = i32x4.replace_lane(groupChannelOffsets, 2, (g + 2) * groupChannels);
  groupChannelOffsets = i32x4.replace_lane(groupChannelOffsets, 3, (g + 3) * groupChannels);
  const base = i32x4.add(
    i32x4.mul(
      i32x4.add(i32x4.mul(i32x4.add(i32x4.splat(b * height), y0), i32x4.splat(width)), x0),
      i32x4.splat(channels),
    ),
    groupChannelOffsets,
  );
  const on00 = v128.and(onY0, onX0);
  const on01 = v128.and(onY0, onX1);
  const on10 = v128.and(onY1, onX0);
  const on11 = v128.and(onY1, onX1);
  const none = i32x4.splat(-1);
  const s = (<usize>(((point - firstPoint) * groups + g) * 4)) << 2;
  storeTransposed(
    pixel + s,
    v128.bitselect(base, none, v128.and(on00, valid)),
    v128.bitselect(i32x4.add(base, i32x4.splat(channels)), none, v128.and(on01, valid)),
    v128.bitselect(i32x4.add(base, i32x4.splat(width * channels)), none, v128.and(on10, valid)),
    v128.bitselect(
      i32x4.add(base, i32x4.splat((width + 1) * channels)),
      none,
      v128.and(on11, valid),
    ),
  );
  storeTransposed(
    weight + s,
    v128.and(f32x4.mul(hy, hx), v128.and(on00, inside)),
    v128.and(f32x4.mul(hy, lx), v128.and(on01, inside)),
    v128.and(f32x4.mul(ly, hx), v128.and(on10, inside)),
    v128.and(f32x4.mul(ly, lx), v128.and(on11, inside)),
  );
  storeTransposed(
    dWeightDy + s,
    v128.and(f32x4.neg(hx), on00),
    v128.and(f32x4.neg(lx), on01),
    v128.and(hx, on10),
    v128.and(lx, on11),
  );
  storeTransposed(
    dWeightDx + s,
    v128.and(f32x4.neg(hy), on00),
    v128.and(hy, on01),
    v128.and(f32x4.neg(ly), on10),
    v128.and(ly, on11),
  );
}

/**
 * Tap `tap`'s column [B·Ho·Wo, C]: deformTapColumn without a mask. The corner buffers hold one
 * chunk (`chunkPoints` · G samples each).
 */
export function tapColumn(
  input: usize,
  offsets: usize,
  tap: i32,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
  column: usize,
): void {
  const points = batch * outHeight * outWidth;
  memory.fill(column, 0, <usize>(points * groups) * <usize>groupChannels * 4);
  for (let first = 0; first < points; first += chunkPoints) {
    const count = min(chunkPoints, points - first);
    fillTapCorners(offsets, tap, first, count, pixel, weight, dWeightDy, dWeightDx, 0, groups);
    const base = column + ((<usize>(first * channels)) << 2);
    columnChunk(input, count, 0, groups, pixel, weight, base);
  }
}

/**
 * Rows of the samples of output positions [firstPoint, firstPoint + points), groups [firstGroup,
 * endGroup), at `column` (row n = sample − firstPoint·G).
 */
function columnChunk(
  input: usize,
  points: i32,
  firstGroup: i32,
  endGroup: i32,
  pixel: usize,
  weight: usize,
  column: usize,
): void {
  const vectorChannels = groupChannels & ~3;
  for (let point = 0; point < points; point++) {
    for (let g = firstGroup; g < endGroup; g++) {
      columnSample(input, point * groups + g, pixel, weight, column, vectorChannels);
    }
  }
}

@inline
function columnSample(
  input: usize,
  n: i32,
  pixel: usize,
  weight: usize,
  column: usize,
  vectorChannels: i32,
): void {
  {
    const s = (<usize>n) << 4;
    const q0 = load<i32>(pixel + s);
    const q1 = load<i32>(pixel + s + 4);
    const q2 = load<i32>(pixel + s + 8);
    const q3 = load<i32>(pixel + s + 12);
    const w0: f32 = q0 < 0 ? 0 : load<f32>(weight + s);
    const w1: f32 = q1 < 0 ? 0 : load<f32>(weight + s + 4);
    const w2: f32 = q2 < 0 ? 0 : load<f32>(weight + s + 8);
    const w3: f32 = q3 < 0 ? 0 : load<f32>(weight + s + 12);
    if (w0 == 0 && w1 == 0 && w2 == 0 && w3 == 0) return;
    const p0 = input + ((<usize>(q0 < 0 ? 0 : q0)) << 2);
    const p1 = input + ((<usize>(q1 < 0 ? 0 : q1)) << 2);
    const p2 = input + ((<usize>(q2 < 0 ? 0 : q2)) << 2);
    const p3 = input + ((<usize>(q3 < 0 ? 0 : q3)) << 2);
    const out = column + ((<usize>n * <usize>groupChannels) << 2);
    const v0 = f32x4.splat(w0);
    const v1 = f32x4.splat(w1);
    const v2 = f32x4.splat(w2);
    const v3 = f32x4.splat(w3);
    let c = 0;
    for (; c < vectorChannels; c += 4) {
      const at = (<usize>c) << 2;
      const sum01 = f32x4.add(f32x4.mul(v0, v128.load(p0 + at)), f32x4.mul(v1, v128.load(p1 + at)));
      const sum012 = f32x4.add(sum01, f32x4.mul(v2, v128.load(p2 + at)));
      v128.store(out + at, f32x4.add(sum012, f32x4.mul(v3, v128.load(p3 + at))));
    }
    for (; c < groupChannels; c++) {
      const at = (<usize>c) << 2;
      const sum01: f32 = w0 * load<f32>(p0 + at) + w1 * load<f32>(p1 + at);
      const sum012: f32 = sum01 + w2 * load<f32>(p2 + at);
      store<f32>(out + at, sum012 + w3 * load<f32>(p3 + at));
    }
  }
}

/**
 * Tap `tap`'s gradients without a mask (addDeformTapGradients): offset gradient of every
 * sample, the tap's scatter into `scratch` (zero on entry, zero again on return) added to
 * `inputGrad` (`inputLength` floats).
 */
export function tapGradients(
  input: usize,
  offsets: usize,
  tap: i32,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
  columnGrad: usize,
  offsetGrad: usize,
  scratch: usize,
  inputGrad: usize,
  inputLength: i32,
): void {
  const points = batch * outHeight * outWidth;
  for (let first = 0; first < points; first += chunkPoints) {
    const count = min(chunkPoints, points - first);
    fillTapCorners(offsets, tap, first, count, pixel, weight, dWeightDy, dWeightDx, 0, groups);
    gradientsChunk(
      input,
      tap,
      first,
      count,
      0,
      groups,
      pixel,
      weight,
      dWeightDy,
      dWeightDx,
      columnGrad + ((<usize>(first * channels)) << 2),
      offsetGrad,
      scratch,
    );
  }
  addScratch(scratch, inputGrad, inputLength);
}

/**
 * Gradients of the samples of output positions [firstPoint, firstPoint + points), groups
 * [firstGroup, endGroup); `columnGrad` row n = sample − firstPoint·G.
 */
function gradientsChunk(
  input: usize,
  tap: i32,
  firstPoint: i32,
  points: i32,
  firstGroup: i32,
  endGroup: i32,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
  columnGrad: usize,
  offsetGrad: usize,
  scratch: usize,
): void {
  const vectorChannels = groupChannels & ~3;
  for (let point = 0; point < points; point++) {
    for (let g = firstGroup; g < endGroup; g++) {
      const n = point * groups + g;
      gradientSample(
        input,
        tap,
        firstPoint * groups + n,
        n,
        pixel,
        weight,
        dWeightDy,
        dWeightDx,
        columnGrad,
        offsetGrad,
        scratch,
        vectorChannels,
      );
    }
  }
}

@inline
function gradientSample(
  input: usize,
  tap: i32,
  sample: i32,
  n: i32,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
  columnGrad: usize,
  offsetGrad: usize,
  scratch: usize,
  vectorChannels: i32,
): void {
  {
    const s = (<usize>n) << 4;
    const q0 = load<i32>(pixel + s);
    const q1 = load<i32>(pixel + s + 4);
    const q2 = load<i32>(pixel + s + 8);
    const q3 = load<i32>(pixel + s + 12);
    if (q0 < 0 && q1 < 0 && q2 < 0 && q3 < 0) return;
    const d = columnGrad + ((<usize>n * <usize>groupChannels) << 2);
    const maskIndex = (sample / groups) * groups * taps + (sample % groups) * taps + tap;
    let gradY: f32 = 0;
    let gradX: f32 = 0;
    if (q0 >= 0 && q1 >= 0 && q2 >= 0 && q3 >= 0) {
      const p0 = input + ((<usize>q0) << 2);
      const p1 = input + ((<usize>q1) << 2);
      const p2 = input + ((<usize>q2) << 2);
      const p3 = input + ((<usize>q3) << 2);
      // Lanes = corners: each lane's Σ_c value · d runs over the channels in order.
      let sums = f32x4.splat(0);
      for (let c = 0; c < groupChannels; c++) {
        const at = (<usize>c) << 2;
        let values = f32x4.splat(load<f32>(p0 + at));
        values = f32x4.replace_lane(values, 1, load<f32>(p1 + at));
        values = f32x4.replace_lane(values, 2, load<f32>(p2 + at));
        values = f32x4.replace_lane(values, 3, load<f32>(p3 + at));
        sums = f32x4.add(sums, f32x4.mul(values, f32x4.splat(load<f32>(d + at))));
      }
      // Lanes = channels: each corner's scatter w · d.
      scatterCorner(scratch + ((<usize>q0) << 2), load<f32>(weight + s), d, vectorChannels);
      scatterCorner(scratch + ((<usize>q1) << 2), load<f32>(weight + s + 4), d, vectorChannels);
      scatterCorner(scratch + ((<usize>q2) << 2), load<f32>(weight + s + 8), d, vectorChannels);
      scatterCorner(scratch + ((<usize>q3) << 2), load<f32>(weight + s + 12), d, vectorChannels);
      const dy = v128.load(dWeightDy + s);
      const dx = v128.load(dWeightDx + s);
      const partY = f32x4.mul(dy, sums);
      const partX = f32x4.mul(dx, sums);
      gradY = gradY + f32x4.extract_lane(partY, 0);
      gradY = gradY + f32x4.extract_lane(partY, 1);
      gradY = gradY + f32x4.extract_lane(partY, 2);
      gradY = gradY + f32x4.extract_lane(partY, 3);
      gradX = gradX + f32x4.extract_lane(partX, 0);
      gradX = gradX + f32x4.extract_lane(partX, 1);
      gradX = gradX + f32x4.extract_lane(partX, 2);
      gradX = gradX + f32x4.extract_lane(partX, 3);
    } else {
      // At the border: only the corners on the map, in order.
      for (let k = 0; k < 4; k++) {
        const q = load<i32>(pixel + s + ((<usize>k) << 2));
        if (q < 0) continue;
        const p = input + ((<usize>q) << 2);
        let sum: f32 = 0;
        for (let c = 0; c < groupChannels; c++) {
          const at = (<usize>c) << 2;
          sum = sum + load<f32>(p + at) * load<f32>(d + at);
        }
        scatterCorner(
          scratch + ((<usize>q) << 2),
          load<f32>(weight + s + ((<usize>k) << 2)),
          d,
          vectorChannels,
        );
        gradY = gradY + load<f32>(dWeightDy + s + ((<usize>k) << 2)) * sum;
        gradX = gradX + load<f32>(dWeightDx + s + ((<usize>k) << 2)) * sum;
      }
    }
    store<f32>(offsetGrad + ((<usize>maskIndex) << 3), gradY);
    store<f32>(offsetGrad + ((<usize>maskIndex) << 3) + 4, gradX);
  }
}

function addScratch(scratch: usize, inputGrad: usize, inputLength: i32): void {
  // inputGrad += scratch (the tensor path's dInput + scatterND), scratch zeroed for the next tap.
  const zero = f32x4.splat(0);
  const vectorLength = inputLength & ~3;
  let index = 0;
  for (; index < vectorLength; index += 4) {
    const at = (<usize>index) << 2;
    v128.store(inputGrad + at, f32x4.add(v128.load(inputGrad + at), v128.load(scratch + at)));
    v128.store(scratch + at, zero);
  }
  for (; index < inputLength; index++) {
    const at = (<usize>index) << 2;
    store<f32>(inputGrad + at, load<f32>(inputGrad + at) + load<f32>(scratch + at));
    store<f32>(scratch + at, 0);
  }
}

/** addScratch on channels [firstChannel, endChannel) of each of `pixels` pixels only. */
function addScratchChannels(
  scratch: usize,
  inputGrad: usize,
  pixels: i32,
  firstChannel: i32,
  endChannel: i32,
): void {
  const zero = f32x4.splat(0);
  const vectorEnd = firstChannel + ((endChannel - firstChannel) & ~3);
  for (let pixel = 0; pixel < pixels; pixel++) {
    const row = pixel * channels;
    let c = firstChannel;
    for (; c < vectorEnd; c += 4) {
      const at = (<usize>(row + c)) << 2;
      v128.store(inputGrad + at, f32x4.add(v128.load(inputGrad + at), v128.load(scratch + at)));
      v128.store(scratch + at, zero);
    }
    for (; c < endChannel; c++) {
      const at = (<usize>(row + c)) << 2;
      store<f32>(inputGrad + at, load<f32>(inputGrad + at) + load<f32>(scratch + at));
      store<f32>(scratch + at, 0);
    }
  }
}

function scatterCorner(target: usize, w: f32, d: usize, vectorChannels: i32): void {
  const v = f32x4.splat(w);
  let c = 0;
  for (; c < vectorChannels; c += 4) {
    const at = (<usize>c) << 2;
    v128.store(target + at, f32x4.add(v128.load(target + at), f32x4.mul(v, v128.load(d + at))));
  }
  for (; c < groupChannels; c++) {
    const at = (<usize>c) << 2;
    store<f32>(target + at, load<f32>(target + at) + w * load<f32>(d + at));
  }
}

// ---- The whole deformable conv (no mask): sampling and the per-tap products in one module. ----
// The products are the wasm backend's matMuls, float32 op for op (XNNPACK's GEMM sums k in order
// from 0 with a rounded multiply and add; tested bit for bit): no column is materialised,
// no tensor is created per tap.

let outChannels: i32 = 0;

export function setOutChannels(o: i32): void {
  outChannels = o;
}

/**
 * out[r, firstN:endN] (+)= a[r, :] · b[:, firstN:endN] for `rows` rows: a [rows, K], b [K, N],
 * out [rows, N], each sum over k in order from 0, then added to out (`accumulate`) or stored.
 * Four rows × eight columns per register tile (each loaded b vector serves four rows); every
 * element still sums its k in order.
 */
function matmulRows(
  a: usize,
  rows: i32,
  K: i32,
  b: usize,
  N: i32,
  firstN: i32,
  endN: i32,
  out: usize,
  accumulate: bool,
): void {
  const blockEnd = firstN + ((endN - firstN) & ~7);
  const blockRows = rows & ~3;
  const rowBytes = (<usize>K) << 2;
  const outRowBytes = (<usize>N) << 2;
  for (let r = 0; r < blockRows; r += 4) {
    const a0 = a + ((<usize>(r * K)) << 2);
    const out0 = out + ((<usize>(r * N)) << 2);
    for (let n0 = firstN; n0 < blockEnd; n0 += 8) {
      let acc00 = f32x4.splat(0);
      let acc01 = f32x4.splat(0);
      let acc10 = f32x4.splat(0);
      let acc11 = f32x4.splat(0);
      let acc20 = f32x4.splat(0);
      let acc21 = f32x4.splat(0);
      let acc30 = f32x4.splat(0);
      let acc31 = f32x4.splat(0);
      let bRow = b + ((<usize>n0) << 2);
      for (let k = 0; k < K; k++) {
        const at = (<usize>k) << 2;
        const b0 = v128.load(bRow);
        const b1 = v128.load(bRow + 16);
        const s0 = f32x4.splat(load<f32>(a0 + at));
        const s1 = f32x4.splat(load<f32>(a0 + rowBytes + at));
        const s2 = f32x4.splat(load<f32>(a0 + 2 * rowBytes + at));
        const s3 = f32x4.splat(load<f32>(a0 + 3 * rowBytes + at));
        acc00 = f32x4.add(acc00, f32x4.mul(s0, b0));
        acc01 = f32x4.add(acc01, f32x4.mul(s0, b1));
        acc10 = f32x4.add(acc10, f32x4.mul(s1, b0));
        acc11 = f32x4.add(acc11, f32x4.mul(s1, b1));
        acc20 = f32x4.add(acc20, f32x4.mul(s2, b0));
        acc21 = f32x4.add(acc21, f32x4.mul(s2, b1));
        acc30 = f32x4.add(acc30, f32x4.mul(s3, b0));
        acc31 = f32x4.add(acc31, f32x4.mul(s3, b1));
        bRow += outRowBytes;
      }
      const at = out0 + ((<usize>n0) << 2);
      storeTile(at, acc00, acc01, accumulate);
      storeTile(at + outRowBytes, acc10, acc11, accumulate);
      storeTile(at + 2 * outRowBytes, acc20, acc21, accumulate);
      storeTile(at + 3 * outRowBytes, acc30, acc31, accumulate);
    }
    if (blockEnd < endN) {
      matmulRowsNarrow(a0, 4, K, b, N, blockEnd, endN, out0, accumulate);
    }
  }
  if (blockRows < rows) {
    matmulRowsNarrow(
      a + ((<usize>(blockRows * K)) << 2),
      rows - blockRows,
      K,
      b,
      N,
      firstN,
      endN,
      out + ((<usize>(blockRows * N)) << 2),
      accumulate,
    );
  }
}

@inline
function storeTile(at: usize, low: v128, high: v128, accumulate: bool): void {
  if (accumulate) {
    v128.store(at, f32x4.add(v128.load(at), low));
    v128.store(at + 16, f32x4.add(v128.load(at + 16), high));
  } else {
    v128.store(at, low);
    v128.store(at + 16, high);
  }
}

/** matmulRows one row at a time, for columns [firstN, endN): the tiles' leftovers. */
function matmulRowsNarrow(
  a: usize,
  rows: i32,
  K: i32,
  b: usize,
  N: i32,
  firstN: i32,
  endN: i32,
  out: usize,
  accumulate: bool,
): void {
  const vectorN = firstN + ((endN - firstN) & ~3);
  for (let r = 0; r < rows; r++) {
    const aRow = a + ((<usize>(r * K)) << 2);
    const outRow = out + ((<usize>(r * N)) << 2);
    let n0 = firstN;
    for (; n0 < vectorN; n0 += 4) {
      let acc = f32x4.splat(0);
      for (let k = 0; k < K; k++) {
        const av = f32x4.splat(load<f32>(aRow + ((<usize>k) << 2)));
        acc = f32x4.add(acc, f32x4.mul(av, v128.load(b + ((<usize>(k * N + n0)) << 2))));
      }
      const at = outRow + ((<usize>n0) << 2);
      v128.store(at, accumulate ? f32x4.add(v128.load(at), acc) : acc);
    }
    for (; n0 < endN; n0++) {
      let acc: f32 = 0;
      for (let k = 0; k < K; k++) {
        acc =
          acc + load<f32>(aRow + ((<usize>k) << 2)) * load<f32>(b + ((<usize>(k * N + n0)) << 2));
      }
      const at = outRow + ((<usize>n0) << 2);
      store<f32>(at, accumulate ? load<f32>(at) + acc : acc);
    }
  }
}

/**
 * acc [firstK:endK, N] += aᵀ · b over `rows` rows (a [rows, K], b [rows, N], acc [K, N]), rows in
 * order. Four k × eight columns per register tile (one load of a row's four k, two of b, per row).
 */
function accumulateTransposedProduct(
  a: usize,
  b: usize,
  rows: i32,
  K: i32,
  firstK: i32,
  endK: i32,
  N: i32,
  acc: usize,
): void {
  const blockK = firstK + ((endK - firstK) & ~3);
  const blockN = N & ~7;
  const aRowBytes = (<usize>K) << 2;
  const bRowBytes = (<usize>N) << 2;
  for (let k = firstK; k < blockK; k += 4) {
    const acc0 = acc + ((<usize>(k * N)) << 2);
    for (let n0 = 0; n0 < blockN; n0 += 8) {
      const at = acc0 + ((<usize>n0) << 2);
      let sum00 = v128.load(at);
      let sum01 = v128.load(at + 16);
      let sum10 = v128.load(at + bRowBytes);
      let sum11 = v128.load(at + bRowBytes + 16);
      let sum20 = v128.load(at + 2 * bRowBytes);
      let sum21 = v128.load(at + 2 * bRowBytes + 16);
      let sum30 = v128.load(at + 3 * bRowBytes);
      let sum31 = v128.load(at + 3 * bRowBytes + 16);
      let aAt = a + ((<usize>k) << 2);
      let bAt = b + ((<usize>n0) << 2);
      for (let r = 0; r < rows; r++) {
        const av = v128.load(aAt);
        const b0 = v128.load(bAt);
        const b1 = v128.load(bAt + 16);
        const s0 = f32x4.splat(f32x4.extract_lane(av, 0));
        const s1 = f32x4.splat(f32x4.extract_lane(av, 1));
        const s2 = f32x4.splat(f32x4.extract_lane(av, 2));
        const s3 = f32x4.splat(f32x4.extract_lane(av, 3));
        sum00 = f32x4.add(sum00, f32x4.mul(s0, b0));
        sum01 = f32x4.add(sum01, f32x4.mul(s0, b1));
        sum10 = f32x4.add(sum10, f32x4.mul(s1, b0));
        sum11 = f32x4.add(sum11, f32x4.mul(s1, b1));
        sum20 = f32x4.add(sum20, f32x4.mul(s2, b0));
        sum21 = f32x4.add(sum21, f32x4.mul(s2, b1));
        sum30 = f32x4.add(sum30, f32x4.mul(s3, b0));
        sum31 = f32x4.add(sum31, f32x4.mul(s3, b1));
        aAt += aRowBytes;
        bAt += bRowBytes;
      }
      v128.store(at, sum00);
      v128.store(at + 16, sum01);
      v128.store(at + bRowBytes, sum10);
      v128.store(at + bRowBytes + 16, sum11);
      v128.store(at + 2 * bRowBytes, sum20);
      v128.store(at + 2 * bRowBytes + 16, sum21);
      v128.store(at + 3 * bRowBytes, sum30);
      v128.store(at + 3 * bRowBytes + 16, sum31);
    }
    if (blockN < N) accumulateTransposedNarrow(a, b, rows, K, N, k, k + 4, blockN, acc);
  }
  if (blockK < endK) accumulateTransposedNarrow(a, b, rows, K, N, blockK, endK, 0, acc);
}

/** accumulateTransposedProduct for k in [firstK, endK), columns [firstN, N): the tiles' leftovers. */
function accumulateTransposedNarrow(
  a: usize,
  b: usize,
  rows: i32,
  K: i32,
  N: i32,
  firstK: i32,
  endK: i32,
  firstN: i32,
  acc: usize,
): void {
  const vectorN = N & ~3;
  for (let k = firstK; k < endK; k++) {
    const accRow = acc + ((<usize>(k * N)) << 2);
    let n0 = firstN;
    for (; n0 < vectorN; n0 += 4) {
      let sum = v128.load(accRow + ((<usize>n0) << 2));
      for (let r = 0; r < rows; r++) {
        const av = f32x4.splat(load<f32>(a + ((<usize>(r * K + k)) << 2)));
        sum = f32x4.add(sum, f32x4.mul(av, v128.load(b + ((<usize>(r * N + n0)) << 2))));
      }
      v128.store(accRow + ((<usize>n0) << 2), sum);
    }
    for (; n0 < N; n0++) {
      let sum = load<f32>(accRow + ((<usize>n0) << 2));
      for (let r = 0; r < rows; r++) {
        sum =
          sum +
          load<f32>(a + ((<usize>(r * K + k)) << 2)) * load<f32>(b + ((<usize>(r * N + n0)) << 2));
      }
      store<f32>(accRow + ((<usize>n0) << 2), sum);
    }
  }
}

/**
 * Output rows [firstPoint, endPoint) of the conv's output [P, O] = Σ_tap column_tap · filter[tap]
 * (taps added in order to a zero output, each product rounded first, as the wasm backend's add of
 * matMuls), `filter` [taps, C, O]; `column` holds one chunk. Rows are independent, so threads
 * may each take a range (each with its own corner and column buffers).
 */
export function convolve(
  input: usize,
  offsets: usize,
  filter: usize,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
  column: usize,
  out: usize,
  firstPoint: i32,
  endPoint: i32,
): void {
  const outRowsAt = out + ((<usize>(firstPoint * outChannels)) << 2);
  memory.fill(outRowsAt, 0, (<usize>((endPoint - firstPoint) * outChannels)) << 2);
  for (let tap = 0; tap < taps; tap++) {
    const tapFilter = filter + ((<usize>(tap * channels * outChannels)) << 2);
    for (let first = firstPoint; first < endPoint; first += chunkPoints) {
      const count = min(chunkPoints, endPoint - first);
      fillTapCorners(offsets, tap, first, count, pixel, weight, dWeightDy, dWeightDx, 0, groups);
      memory.fill(column, 0, (<usize>(count * channels)) << 2);
      columnChunk(input, count, 0, groups, pixel, weight, column);
      const outRows = out + ((<usize>(first * outChannels)) << 2);
      matmulRows(column, count, channels, tapFilter, outChannels, 0, outChannels, outRows, true);
    }
  }
}

/**
 * The gradients of the conv from dL/d out `dy` [P, O] for the channels of offset groups
 * [firstGroup, endGroup): input (`inputGrad`, taps' scatters added in turn), offsets
 * (`offsetGrad`), filter (`filterGrad` [taps, C, O], Σ over positions in order). `filterT` is the
 * filter as [taps, O, C]; `column` / `columnGrad` hold one chunk; `scratch` is zero on entry and
 * on return. Every value a group range writes is its own (a group's samples read and scatter only
 * its channels), so threads may each take a range, with their own corner and chunk buffers.
 */
export function convolveBackward(
  input: usize,
  offsets: usize,
  filterT: usize,
  dy: usize,
  pixel: usize,
  weight: usize,
  dWeightDy: usize,
  dWeightDx: usize,
  column: usize,
  columnGrad: usize,
  offsetGrad: usize,
  scratch: usize,
  inputGrad: usize,
  inputLength: i32,
  filterGrad: usize,
  firstGroup: i32,
  endGroup: i32,
): void {
  const points = batch * outHeight * outWidth;
  const firstChannel = firstGroup * groupChannels;
  const endChannel = endGroup * groupChannels;
  for (let tap = 0; tap < taps; tap++) {
    const tapFilterT = filterT + ((<usize>(tap * outChannels * channels)) << 2);
    const tapFilterGrad = filterGrad + ((<usize>(tap * channels * outChannels)) << 2);
    memory.fill(
      tapFilterGrad + ((<usize>(firstChannel * outChannels)) << 2),
      0,
      (<usize>((endChannel - firstChannel) * outChannels)) << 2,
    );
    for (let first = 0; first < points; first += chunkPoints) {
      const count = min(chunkPoints, points - first);
      const dyRows = dy + ((<usize>(first * outChannels)) << 2);
      fillTapCorners(
        offsets,
        tap,
        first,
        count,
        pixel,
        weight,
        dWeightDy,
        dWeightDx,
        firstGroup,
        endGroup,
      );
      memory.fill(column, 0, (<usize>(count * channels)) << 2);
      columnChunk(input, count, firstGroup, endGroup, pixel, weight, column);
      matmulRows(
        dyRows,
        count,
        outChannels,
        tapFilterT,
        channels,
        firstChannel,
        endChannel,
        columnGrad,
        false,
      );
      gradientsChunk(
        input,
        tap,
        first,
        count,
        firstGroup,
        endGroup,
        pixel,
        weight,
        dWeightDy,
        dWeightDx,
        columnGrad,
        offsetGrad,
        scratch,
      );
      accumulateTransposedProduct(
        column,
        dyRows,
        count,
        channels,
        firstChannel,
        endChannel,
        outChannels,
        tapFilterGrad,
      );
    }
    if (firstChannel === 0 && endChannel === channels) {
      addScratch(scratch, inputGrad, inputLength);
    } else {
      addScratchChannels(scratch, inputGrad, inputLength / channels, firstChannel, endChannel);
    }
  }
}
