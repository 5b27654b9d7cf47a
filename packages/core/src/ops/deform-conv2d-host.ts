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

/** One sampling point's bilinear corners: pixel offsets (−1 off the map) and weights. */
interface Corners {
  /** Element index of channel 0 of the group at each corner (00, 01, 10, 11), −1 off the map. */
  pixel: Int32Array;
  /** bilinear_interpolate's weights (zero outside (-1, H) × (-1, W) or off the map). */
  weight: Float32Array;
  /** d weight / dy and d weight / dx of the corners on the map (get_coordinate_weight). */
  dWeightDy: Float32Array;
  dWeightDx: Float32Array;
}

/**
 * Fills `corners` for the point (y, x) of group `group` in image `image`; returns false when no
 * corner is on the map (every value and gradient of the point is zero).
 */
function cornersAt(
  geometry: HostDeformGeometry,
  image: number,
  group: number,
  y: number,
  x: number,
  corners: Corners,
): boolean {
  const { height, width, channels } = geometry;
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  if (y0 < -1 || y0 >= height || x0 < -1 || x0 >= width) return false;
  const ly = f32(y - y0);
  const lx = f32(x - x0);
  const hy = f32(1 - ly);
  const hx = f32(1 - lx);
  const inside = y > -1 && y < height && x > -1 && x < width;
  const onY = [y0 >= 0, y0 + 1 < height];
  const onX = [x0 >= 0, x0 + 1 < width];
  const rowWeight = [hy, ly];
  const colWeight = [hx, lx];
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < 2; c++) {
      const k = r * 2 + c;
      const on = (onY[r] as boolean) && (onX[c] as boolean);
      corners.pixel[k] = on
        ? ((image * height + y0 + r) * width + x0 + c) * channels +
          group * (channels / geometry.groups)
        : -1;
      corners.weight[k] =
        on && inside ? f32((rowWeight[r] as number) * (colWeight[c] as number)) : 0;
      // d/dy of hy·(·) is −(·), of ly·(·) is +(·); likewise in x.
      corners.dWeightDy[k] = on
        ? r === 0
          ? -(colWeight[c] as number)
          : (colWeight[c] as number)
        : 0;
      corners.dWeightDx[k] = on
        ? c === 0
          ? -(rowWeight[r] as number)
          : (rowWeight[r] as number)
        : 0;
    }
  }
  return true;
}

function newCorners(): Corners {
  return {
    pixel: new Int32Array(4),
    weight: new Float32Array(4),
    dWeightDy: new Float32Array(4),
    dWeightDx: new Float32Array(4),
  };
}

/**
 * Calls `visit` for every (output position p, group g) of tap `tap` with the point's corners,
 * skipping points with no corner on the map. `offsets` `[B, Ho, Wo, G, K, 2]` flattened
 * (torchvision's channel order g·2K + 2k + {dy, dx}).
 */
function forEachTapPoint(
  geometry: HostDeformGeometry,
  offsets: Float32Array,
  tap: number,
  visit: (point: number, group: number, corners: Corners) => void,
): void {
  const { batch, outHeight, outWidth, kernelWidth, groups } = geometry;
  const taps = geometry.kernelHeight * kernelWidth;
  const i = Math.floor(tap / kernelWidth);
  const j = tap % kernelWidth;
  const corners = newCorners();
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
          if (cornersAt(geometry, b, g, y, x, corners)) visit(point, g, corners);
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
  const column = new Float32Array(
    geometry.batch * geometry.outHeight * geometry.outWidth * channels,
  );
  forEachTapPoint(geometry, offsets, tap, (point, g, corners) => {
    const out = point * channels + g * groupChannels;
    const modulation = mask ? (mask[(point * groups + g) * taps + tap] as number) : 1;
    const { pixel, weight } = corners;
    for (let c = 0; c < groupChannels; c++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) {
        const p = pixel[k] as number;
        if (p >= 0) sum = f32(sum + f32((weight[k] as number) * (input[p + c] as number)));
      }
      column[out + c] = mask ? f32(sum * modulation) : sum;
    }
  });
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
 * scatter, added to the input gradient afterwards, as the tensor path does).
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
  scratch.fill(0);
  forEachTapPoint(geometry, offsets, tap, (point, g, corners) => {
    const column = point * channels + g * groupChannels;
    const maskIndex = (point * groups + g) * taps + tap;
    const modulation = mask ? (mask[maskIndex] as number) : 1;
    const { pixel, weight, dWeightDy, dWeightDx } = corners;
    let gradY = 0;
    let gradX = 0;
    for (let k = 0; k < 4; k++) {
      const p = pixel[k] as number;
      if (p < 0) continue;
      // Σ_c value · d(sampled), the corner's share of the coordinate gradient.
      let perCorner = 0;
      for (let c = 0; c < groupChannels; c++) {
        const dSampled = mask
          ? f32((columnGrad[column + c] as number) * modulation)
          : (columnGrad[column + c] as number);
        perCorner = f32(perCorner + f32((input[p + c] as number) * dSampled));
      }
      gradY = f32(gradY + f32((dWeightDy[k] as number) * perCorner));
      gradX = f32(gradX + f32((dWeightDx[k] as number) * perCorner));
    }
    const o = maskIndex * 2;
    grads.offset[o] = gradY;
    grads.offset[o + 1] = gradX;
    if (mask) {
      let gradMask = 0;
      for (let c = 0; c < groupChannels; c++) {
        let sampled = 0;
        for (let k = 0; k < 4; k++) {
          const p = pixel[k] as number;
          if (p >= 0)
            sampled = f32(sampled + f32((weight[k] as number) * (input[p + c] as number)));
        }
        gradMask = f32(gradMask + f32(sampled * (columnGrad[column + c] as number)));
      }
      grads.mask[maskIndex] = gradMask;
    }
    for (let k = 0; k < 4; k++) {
      const p = pixel[k] as number;
      const w = weight[k] as number;
      if (p < 0 || w === 0) continue;
      for (let c = 0; c < groupChannels; c++) {
        const dSampled = mask
          ? f32((columnGrad[column + c] as number) * modulation)
          : (columnGrad[column + c] as number);
        scratch[p + c] = f32((scratch[p + c] as number) + f32(w * dSampled));
      }
    }
  });
  const inputGrad = grads.input;
  for (let index = 0; index < inputGrad.length; index++) {
    inputGrad[index] = f32((inputGrad[index] as number) + (scratch[index] as number));
  }
}
