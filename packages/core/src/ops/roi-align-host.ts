/**
 * RoIAlign on typed arrays (the host side of `roiAlign` on backends whose tensors live in host
 * memory: wasm, cpu). The tensor path loops over the samples of the LARGEST adaptive grid with a
 * gatherND, a batched [1, 4] × [4, C] matMul and (backward) a scatterND per sample — on a Faster
 * R-CNN's P2 that is 64 samples of ~11,600 bins, ~0.8 s per training step on wasm. Here each
 * RoI visits only its own grid.
 *
 * Same arithmetic as the tensor path, float32 op for op: sample coordinates, clamping and weights
 * as `axisSamples` computes them, each bin's corners summed in order (00, 01, 10, 11) from zero
 * and added to the bin in sample order (row-major over the grid); the gradient scatters sample by
 * sample, every bin and corner of a sample summed into a zeroed scratch in order, then added to
 * the gradient — as `scatterND` and `add` do. Samples a RoI does not have (outside its grid or
 * off the map) weigh zero there and are skipped here.
 */

const f32 = Math.fround;

/** Per RoI and axis: each (bin, sample)'s two pixels and weights, or invalid (weight 0). */
interface AxisTable {
  /** Samples per bin of each RoI (its grid along this axis). */
  grid: Int32Array;
  /** [K, outSize, gridMax] low / high pixel; -1 where the sample weighs zero. */
  low: Int32Array;
  high: Int32Array;
  /** [K, outSize, gridMax] weights of the low / high pixel (divided by the grid size). */
  lowWeight: Float32Array;
  highWeight: Float32Array;
  gridMax: number;
}

/** Everything the host passes need, from the rois alone. */
export interface RoiSampleGrid {
  count: number;
  outHeight: number;
  outWidth: number;
  width: number;
  /** b · H · W of each RoI's image. */
  base: Int32Array;
  ys: AxisTable;
  xs: AxisTable;
}

function axisTable(
  starts: Float32Array,
  bins: Float32Array,
  grids: Int32Array,
  gridMax: number,
  outSize: number,
  extent: number,
): AxisTable {
  const count = starts.length;
  const size = count * outSize * gridMax;
  const low = new Int32Array(size).fill(-1);
  const high = new Int32Array(size).fill(-1);
  const lowWeight = new Float32Array(size);
  const highWeight = new Float32Array(size);
  for (let k = 0; k < count; k++) {
    const start = starts[k] as number;
    const bin = bins[k] as number;
    const grid = grids[k] as number;
    const gridSafe = Math.max(grid, 1);
    const scale = f32(1 / gridSafe);
    for (let p = 0; p < outSize; p++) {
      const binStart = f32(start + f32(p * bin));
      for (let s = 0; s < grid; s++) {
        const coordinate = f32(binStart + f32(f32(f32(s + 0.5) * bin) / gridSafe));
        if (!(coordinate >= -1 && coordinate <= extent)) continue;
        const clamped = Math.max(coordinate, 0);
        const floor = Math.floor(clamped);
        const atEdge = floor >= extent - 1;
        const lowPixel = atEdge ? extent - 1 : floor;
        const fraction = f32((atEdge ? lowPixel : clamped) - lowPixel);
        const at = (k * outSize + p) * gridMax + s;
        low[at] = lowPixel;
        high[at] = atEdge ? extent - 1 : floor + 1;
        lowWeight[at] = f32(f32(1 - fraction) * scale);
        highWeight[at] = f32(fraction * scale);
      }
    }
  }
  return { grid: grids, low, high, lowWeight, highWeight, gridMax };
}

/**
 * The sampling grid of `rois` ([K·4] xyxy in image pixels) on an `height` × `width` map,
 * computed as the tensor path computes it (float32 at every step).
 */
export function roiSampleGrid(options: {
  rois: Float32Array;
  batchIndices: Int32Array;
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
}): RoiSampleGrid {
  const { rois, batchIndices, height, width, outHeight, outWidth, samplingRatio, aligned } =
    options;
  const count = batchIndices.length;
  const scale = f32(options.spatialScale);
  const shift = aligned ? 0.5 : 0;
  const startY = new Float32Array(count);
  const startX = new Float32Array(count);
  const binHeight = new Float32Array(count);
  const binWidth = new Float32Array(count);
  const gridHeight = new Int32Array(count);
  const gridWidth = new Int32Array(count);
  const base = new Int32Array(count);
  let gridMaxHeight = 1;
  let gridMaxWidth = 1;
  for (let k = 0; k < count; k++) {
    const x1 = f32(f32((rois[4 * k] as number) * scale) - shift);
    const y1 = f32(f32((rois[4 * k + 1] as number) * scale) - shift);
    const x2 = f32(f32((rois[4 * k + 2] as number) * scale) - shift);
    const y2 = f32(f32((rois[4 * k + 3] as number) * scale) - shift);
    let roiWidth = f32(x2 - x1);
    let roiHeight = f32(y2 - y1);
    if (!aligned) {
      roiWidth = Math.max(roiWidth, 1);
      roiHeight = Math.max(roiHeight, 1);
    }
    startY[k] = y1;
    startX[k] = x1;
    binHeight[k] = f32(roiHeight / outHeight);
    binWidth[k] = f32(roiWidth / outWidth);
    gridHeight[k] = samplingRatio > 0 ? samplingRatio : Math.ceil(binHeight[k] as number);
    gridWidth[k] = samplingRatio > 0 ? samplingRatio : Math.ceil(binWidth[k] as number);
    gridMaxHeight = Math.max(gridMaxHeight, gridHeight[k] as number);
    gridMaxWidth = Math.max(gridMaxWidth, gridWidth[k] as number);
    base[k] = (batchIndices[k] as number) * height * width;
  }
  return {
    count,
    outHeight,
    outWidth,
    width,
    base,
    ys: axisTable(startY, binHeight, gridHeight, gridMaxHeight, outHeight, height),
    xs: axisTable(startX, binWidth, gridWidth, gridMaxWidth, outWidth, width),
  };
}

/** Output [K, oh, ow, C] from the features [B·H·W·C]. */
export function roiAlignHostForward(
  grid: RoiSampleGrid,
  features: Float32Array,
  channels: number,
): Float32Array {
  const { count, outHeight, outWidth, width, base, ys, xs } = grid;
  const out = new Float32Array(count * outHeight * outWidth * channels);
  const pooled = new Float64Array(channels);
  for (let k = 0; k < count; k++) {
    const gridY = ys.grid[k] as number;
    const gridX = xs.grid[k] as number;
    for (let ph = 0; ph < outHeight; ph++) {
      for (let pw = 0; pw < outWidth; pw++) {
        const outAt = ((k * outHeight + ph) * outWidth + pw) * channels;
        for (let iy = 0; iy < gridY; iy++) {
          const ay = (k * outHeight + ph) * ys.gridMax + iy;
          const y0 = ys.low[ay] as number;
          if (y0 < 0) continue;
          const rowLow = (base[k] as number) + y0 * width;
          const rowHigh = (base[k] as number) + (ys.high[ay] as number) * width;
          const wyLow = ys.lowWeight[ay] as number;
          const wyHigh = ys.highWeight[ay] as number;
          for (let ix = 0; ix < gridX; ix++) {
            const ax = (k * outWidth + pw) * xs.gridMax + ix;
            const x0 = xs.low[ax] as number;
            if (x0 < 0) continue;
            const x1 = xs.high[ax] as number;
            const wxLow = xs.lowWeight[ax] as number;
            const wxHigh = xs.highWeight[ax] as number;
            const w00 = f32(wyLow * wxLow);
            const w01 = f32(wyLow * wxHigh);
            const w10 = f32(wyHigh * wxLow);
            const w11 = f32(wyHigh * wxHigh);
            const p00 = (rowLow + x0) * channels;
            const p01 = (rowLow + x1) * channels;
            const p10 = (rowHigh + x0) * channels;
            const p11 = (rowHigh + x1) * channels;
            for (let c = 0; c < channels; c++) {
              // The matMul's sum over the four corners, from zero, each product rounded.
              let sum = f32(0 + f32(w00 * (features[p00 + c] as number)));
              sum = f32(sum + f32(w01 * (features[p01 + c] as number)));
              sum = f32(sum + f32(w10 * (features[p10 + c] as number)));
              pooled[c] = f32(sum + f32(w11 * (features[p11 + c] as number)));
            }
            for (let c = 0; c < channels; c++) {
              out[outAt + c] = (out[outAt + c] as number) + (pooled[c] as number);
            }
          }
        }
      }
    }
  }
  return out;
}

/** Feature gradient [B·H·W·C] (`pixels` = B·H·W) from dL/d output `dy` [K, oh, ow, C]. */
export function roiAlignHostBackward(
  grid: RoiSampleGrid,
  dy: Float32Array,
  channels: number,
  pixels: number,
): Float32Array {
  const { count, outHeight, outWidth, width, base, ys, xs } = grid;
  const gradient = new Float32Array(pixels * channels);
  const scratch = new Float32Array(pixels * channels);
  const touched = new Uint8Array(pixels);
  const touchedList = new Int32Array(pixels);
  // Sample by sample of the largest grid, as the tensor path's scatterND per sample.
  for (let iy = 0; iy < ys.gridMax; iy++) {
    for (let ix = 0; ix < xs.gridMax; ix++) {
      let touchedCount = 0;
      const scatter = (pixel: number, weight: number, dyAt: number) => {
        if (touched[pixel] === 0) {
          touched[pixel] = 1;
          touchedList[touchedCount++] = pixel;
        }
        const at = pixel * channels;
        for (let c = 0; c < channels; c++) {
          scratch[at + c] = (scratch[at + c] as number) + f32(weight * (dy[dyAt + c] as number));
        }
      };
      for (let k = 0; k < count; k++) {
        if (iy >= (ys.grid[k] as number) || ix >= (xs.grid[k] as number)) continue;
        for (let ph = 0; ph < outHeight; ph++) {
          const ay = (k * outHeight + ph) * ys.gridMax + iy;
          const y0 = ys.low[ay] as number;
          if (y0 < 0) continue;
          const rowLow = (base[k] as number) + y0 * width;
          const rowHigh = (base[k] as number) + (ys.high[ay] as number) * width;
          const wyLow = ys.lowWeight[ay] as number;
          const wyHigh = ys.highWeight[ay] as number;
          for (let pw = 0; pw < outWidth; pw++) {
            const ax = (k * outWidth + pw) * xs.gridMax + ix;
            const x0 = xs.low[ax] as number;
            if (x0 < 0) continue;
            const x1 = xs.high[ax] as number;
            const wxLow = xs.lowWeight[ax] as number;
            const wxHigh = xs.highWeight[ax] as number;
            const dyAt = ((k * outHeight + ph) * outWidth + pw) * channels;
            scatter(rowLow + x0, f32(wyLow * wxLow), dyAt);
            scatter(rowLow + x1, f32(wyLow * wxHigh), dyAt);
            scatter(rowHigh + x0, f32(wyHigh * wxLow), dyAt);
            scatter(rowHigh + x1, f32(wyHigh * wxHigh), dyAt);
          }
        }
      }
      // gradient += this sample's scatter (untouched pixels would add zero).
      for (let t = 0; t < touchedCount; t++) {
        const pixel = touchedList[t] as number;
        touched[pixel] = 0;
        const at = pixel * channels;
        for (let c = 0; c < channels; c++) {
          gradient[at + c] = (gradient[at + c] as number) + (scratch[at + c] as number);
          scratch[at + c] = 0;
        }
      }
    }
  }
  return gradient;
}
