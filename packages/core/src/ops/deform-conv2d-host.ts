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
 */

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
 * The sampling coordinates of every (output position p, tap k, group g), in (p, k, g) order:
 * `y`, `x` of `[B·Ho·Wo·K·G]`. `offsets` `[B, Ho, Wo, G, K, 2]` flattened (torchvision's
 * channel order g·2K + 2k + {dy, dx}). One flat pass, so the sampling loops below run without
 * callbacks (a callback per sample is not inlined by V8 once two loops share the visitor).
 */
function samplePoints(
  geometry: HostDeformGeometry,
  offsets: Float32Array,
): { y: Float32Array; x: Float32Array; imageBase: Int32Array } {
  const { batch, height, width, outHeight, outWidth, kernelHeight, kernelWidth, groups } = geometry;
  const taps = kernelHeight * kernelWidth;
  const samples = batch * outHeight * outWidth * taps * groups;
  const ys = new Float32Array(samples);
  const xs = new Float32Array(samples);
  // Pixel index of (b, 0, 0) per output position, for the corner reads.
  const imageBase = new Int32Array(batch * outHeight * outWidth);
  let sample = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        const point = (b * outHeight + oy) * outWidth + ox;
        imageBase[point] = b * height * width;
        const offsetBase = point * groups * taps * 2;
        for (let i = 0; i < kernelHeight; i++) {
          const rowBase = oy * geometry.strideHeight - geometry.top + i * geometry.dilationHeight;
          for (let j = 0; j < kernelWidth; j++) {
            const colBase = ox * geometry.strideWidth - geometry.left + j * geometry.dilationWidth;
            const tap = i * kernelWidth + j;
            for (let g = 0; g < groups; g++) {
              const o = offsetBase + (g * taps + tap) * 2;
              ys[sample] = rowBase + (offsets[o] as number);
              xs[sample] = colBase + (offsets[o + 1] as number);
              sample++;
            }
          }
        }
      }
    }
  }
  return { y: ys, x: xs, imageBase };
}

/**
 * The sampled columns `[B·Ho·Wo, K·C]` (im2col with bilinear sampling, times the DCNv2
 * modulation when `mask` `[B, Ho, Wo, G·K]` is given): row p, column k·C + c is input channel c
 * sampled at tap k of output position p, so `columns · filter.reshape([K·C, O])` is the conv.
 */
export function deformColumns(
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | undefined,
): Float32Array {
  const { height, width, channels, groups, kernelHeight, kernelWidth } = geometry;
  const taps = kernelHeight * kernelWidth;
  const groupChannels = channels / groups;
  const points = geometry.batch * geometry.outHeight * geometry.outWidth;
  const columns = new Float32Array(points * taps * channels);
  const sampled = samplePoints(geometry, offsets);
  const samplesPerPoint = taps * groups;
  for (let sample = 0; sample < points * samplesPerPoint; sample++) {
    const y = sampled.y[sample] as number;
    const x = sampled.x[sample] as number;
    if (y <= -1 || y >= height || x <= -1 || x >= width) continue;
    const point = Math.floor(sample / samplesPerPoint);
    const tap = Math.floor(sample / groups) % taps;
    const g = sample % groups;
    const imageBase = sampled.imageBase[point] as number;
    const modulation = mask ? (mask[(point * groups + g) * taps + tap] as number) : 1;
    const y0 = Math.floor(y);
    const x0 = Math.floor(x);
    const ly = y - y0;
    const lx = x - x0;
    const hy = 1 - ly;
    const hx = 1 - lx;
    const out = (point * taps + tap) * channels + g * groupChannels;
    const channel0 = g * groupChannels;
    // Corners off the map read as zero: their weight is zeroed and their pixel index unused.
    const validY0 = y0 >= 0;
    const validY1 = y0 + 1 < height;
    const validX0 = x0 >= 0;
    const validX1 = x0 + 1 < width;
    const w00 = validY0 && validX0 ? hy * hx * modulation : 0;
    const w01 = validY0 && validX1 ? hy * lx * modulation : 0;
    const w10 = validY1 && validX0 ? ly * hx * modulation : 0;
    const w11 = validY1 && validX1 ? ly * lx * modulation : 0;
    const row0 = validY0 ? y0 : y0 + 1;
    const row1 = validY1 ? y0 + 1 : y0;
    const col0 = validX0 ? x0 : x0 + 1;
    const col1 = validX1 ? x0 + 1 : x0;
    const p00 = (imageBase + row0 * width + col0) * channels + channel0;
    const p01 = (imageBase + row0 * width + col1) * channels + channel0;
    const p10 = (imageBase + row1 * width + col0) * channels + channel0;
    const p11 = (imageBase + row1 * width + col1) * channels + channel0;
    for (let c = 0; c < groupChannels; c++) {
      columns[out + c] =
        w00 * (input[p00 + c] as number) +
        w01 * (input[p01 + c] as number) +
        w10 * (input[p10 + c] as number) +
        w11 * (input[p11 + c] as number);
    }
  }
  return columns;
}

export interface HostDeformGradients {
  /** `[B, H, W, C]` */
  input: Float32Array;
  /** `[B, Ho, Wo, 2·G·K]`, torchvision's channel order. */
  offset: Float32Array;
  /** `[B, Ho, Wo, G·K]`, zeros without a mask. */
  mask: Float32Array;
}

/**
 * Gradients of the sampled columns w.r.t. input, offsets and mask, given `columnGrad`
 * `[B·Ho·Wo, K·C]` (dL/d columns, i.e. `dy · filterᵀ`).
 */
export function deformColumnGradients(
  geometry: HostDeformGeometry,
  input: Float32Array,
  offsets: Float32Array,
  mask: Float32Array | undefined,
  columnGrad: Float32Array,
): HostDeformGradients {
  const { height, width, channels, groups, kernelHeight, kernelWidth } = geometry;
  const taps = kernelHeight * kernelWidth;
  const groupChannels = channels / groups;
  const points = geometry.batch * geometry.outHeight * geometry.outWidth;
  const inputGrad = new Float32Array(input.length);
  const offsetGrad = new Float32Array(points * groups * taps * 2);
  const maskGrad = new Float32Array(points * groups * taps);
  const sampled = samplePoints(geometry, offsets);
  const samplesPerPoint = taps * groups;
  for (let sample = 0; sample < points * samplesPerPoint; sample++) {
    const y = sampled.y[sample] as number;
    const x = sampled.x[sample] as number;
    const y0 = Math.floor(y);
    const x0 = Math.floor(x);
    // No corner on the map: value, input and coordinate gradients are all zero.
    if (y0 < -1 || y0 >= height || x0 < -1 || x0 >= width) continue;
    const point = Math.floor(sample / samplesPerPoint);
    const tap = Math.floor(sample / groups) % taps;
    const g = sample % groups;
    const imageBase = sampled.imageBase[point] as number;
    const maskIndex = (point * groups + g) * taps + tap;
    const modulation = mask ? (mask[maskIndex] as number) : 1;
    const ly = y - y0;
    const lx = x - x0;
    const hy = 1 - ly;
    const hx = 1 - lx;
    const inside = y > -1 && y < height && x > -1 && x < width;
    const column = (point * taps + tap) * channels + g * groupChannels;
    const validY0 = y0 >= 0;
    const validY1 = y0 + 1 < height;
    const validX0 = x0 >= 0;
    const validX1 = x0 + 1 < width;
    // Off-map corners read a clamped on-map pixel times 0 (`on*`) and get weight 0, so the
    // channel loop runs without branches.
    const on00 = validY0 && validX0 ? 1 : 0;
    const on01 = validY0 && validX1 ? 1 : 0;
    const on10 = validY1 && validX0 ? 1 : 0;
    const on11 = validY1 && validX1 ? 1 : 0;
    const row0 = validY0 ? y0 : y0 + 1;
    const row1 = validY1 ? y0 + 1 : y0;
    const col0 = validX0 ? x0 : x0 + 1;
    const col1 = validX1 ? x0 + 1 : x0;
    const channel0 = g * groupChannels;
    const p00 = (imageBase + row0 * width + col0) * channels + channel0;
    const p01 = (imageBase + row0 * width + col1) * channels + channel0;
    const p10 = (imageBase + row1 * width + col0) * channels + channel0;
    const p11 = (imageBase + row1 * width + col1) * channels + channel0;
    // bilinear_interpolate's weights (zero outside (-1, H) × (-1, W)) for the value and the
    // input gradient; get_coordinate_weight has no inside test.
    const w00 = inside ? hy * hx * on00 : 0;
    const w01 = inside ? hy * lx * on01 : 0;
    const w10 = inside ? ly * hx * on10 : 0;
    const w11 = inside ? ly * lx * on11 : 0;
    const s00 = w00 * modulation;
    const s01 = w01 * modulation;
    const s10 = w10 * modulation;
    const s11 = w11 * modulation;
    let gradY = 0;
    let gradX = 0;
    let gradMask = 0;
    for (let c = 0; c < groupChannels; c++) {
      const upstream = columnGrad[column + c] as number;
      const v00 = on00 * (input[p00 + c] as number);
      const v01 = on01 * (input[p01 + c] as number);
      const v10 = on10 * (input[p10 + c] as number);
      const v11 = on11 * (input[p11 + c] as number);
      gradY += upstream * (lx * (v11 - v01) + hx * (v10 - v00));
      gradX += upstream * (ly * (v11 - v10) + hy * (v01 - v00));
      gradMask += upstream * (w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11);
      inputGrad[p00 + c] = (inputGrad[p00 + c] as number) + upstream * s00;
      inputGrad[p01 + c] = (inputGrad[p01 + c] as number) + upstream * s01;
      inputGrad[p10 + c] = (inputGrad[p10 + c] as number) + upstream * s10;
      inputGrad[p11 + c] = (inputGrad[p11 + c] as number) + upstream * s11;
    }
    const o = (point * groups * taps + g * taps + tap) * 2;
    offsetGrad[o] = gradY * modulation;
    offsetGrad[o + 1] = gradX * modulation;
    maskGrad[maskIndex] = gradMask;
  }
  return { input: inputGrad, offset: offsetGrad, mask: maskGrad };
}
