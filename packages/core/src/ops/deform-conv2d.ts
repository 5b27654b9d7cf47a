import * as tf from '@tensorflow/tfjs-core';
import { hasSyncReadback } from '../backend/readback';
import { assertRank, type ConvPadding, convGeometry, type SpatialPair } from './conv-geometry';
import { deformTapSampler, type HostDeformGeometry } from './deform-conv2d-host';

export interface DeformConv2dOptions {
  /** Conv strides (default 1). */
  strides?: SpatialPair;
  /** Zero padding (default 0, as torchvision's `padding`). */
  pad?: ConvPadding;
  /** Filter dilation (default 1). */
  dilations?: SpatialPair;
  /** Channel groups sharing one offset field (torchvision's `offset_groups`, default 1). */
  deformGroups?: number;
  /** Per-output-channel bias [O]. */
  bias?: tf.Tensor1D;
  /** DCNv2 modulation [B, Ho, Wo, deformGroups·kh·kw] multiplying every sampled value. */
  mask?: tf.Tensor4D;
  /**
   * Where the bilinear sampling runs: `'host'` on typed arrays (one readback of input and
   * offsets; ~20× faster on wasm, where tensors live in host memory anyway), `'tensor'` as
   * tensor ops (gatherND / scatterND; keeps data on a GPU backend), `'auto'` = host on the wasm
   * and cpu backends, tensor ops elsewhere. Both match torchvision. Default `'auto'`.
   */
  sampling?: 'auto' | 'host' | 'tensor';
}

const where = 'deformConv2d';

/**
 * Bilinear taps of the sampling points (y, x) [B, Ho, Wo, G] into the input flattened to
 * [B·H·W·G, C/G]. torchvision's `bilinear_interpolate` (deform_conv2d_kernel.cpp): a point
 * with y ≤ -1, y ≥ H, x ≤ -1 or x ≥ W samples zero, and corners outside the map count as
 * zero. `dWeightDy`/`dWeightDx` are the weights' derivatives as torchvision's
 * `get_coordinate_weight` computes them: from the corners on the map, without the inside
 * test, so a point with no corner on the map gets zero gradient and one exactly on the -1
 * border (zero offset in the padding) gets its neighbours' gradient, as there.
 */
export function bilinearTaps(
  y: tf.Tensor,
  x: tf.Tensor,
  height: number,
  width: number,
  /** Row offset b·H of each point's image, broadcastable to y; default [B, 1, 1, 1] for y [B, Ho, Wo, G]. */
  pointBatchBase?: tf.Tensor,
) {
  const groups = y.shape[y.rank - 1] as number;
  const batch = y.shape[0] as number;
  const inside = tf.cast(
    tf.logicalAnd(
      tf.logicalAnd(tf.greater(y, -1), tf.less(y, height)),
      tf.logicalAnd(tf.greater(x, -1), tf.less(x, width)),
    ),
    'float32',
  );
  const y0 = tf.floor(y);
  const x0 = tf.floor(x);
  const ly = tf.sub(y, y0);
  const lx = tf.sub(x, x0);
  const hy = tf.sub(1, ly);
  const hx = tf.sub(1, lx);
  const asFloat = (condition: tf.Tensor) => tf.cast(condition, 'float32');
  // A corner counts when it lies on the map (torchvision's valid_y_l, valid_y_h, …).
  const between = (value: tf.Tensor, low: number, high: number) =>
    asFloat(tf.logicalAnd(tf.greaterEqual(value, low), tf.lessEqual(value, high)));
  const validY0 = between(y0, 0, height - 1);
  const validY1 = between(y0, -1, height - 2);
  const validX0 = between(x0, 0, width - 1);
  const validX1 = between(x0, -1, width - 2);
  // Corners in the order (y0,x0), (y0,x1), (y1,x0), (y1,x1).
  const corners = [
    tf.mul(validY0, validX0),
    tf.mul(validY0, validX1),
    tf.mul(validY1, validX0),
    tf.mul(validY1, validX1),
  ];
  // The forward weights also need the point inside (-1, H) × (-1, W) (bilinear_interpolate);
  // the coordinate derivatives do not (get_coordinate_weight): a point exactly on the -1
  // border samples zero but still gets the gradient of its row/column 0 neighbours.
  const forwardMasks = corners.map((corner) => tf.mul(corner, inside));
  // Corners on the last axis: each point's four weights and rows stay adjacent, so the
  // weighted sum and its adjoints are small batched matMuls ([1, 4] · [4, C/G]) per point.
  const cornerStack = (values: tf.Tensor[], masks: tf.Tensor[]) =>
    tf.stack(
      values.map((v, c) => tf.mul(v, masks[c] as tf.Tensor)),
      -1,
    );
  const weights = cornerStack(
    [tf.mul(hy, hx), tf.mul(hy, lx), tf.mul(ly, hx), tf.mul(ly, lx)],
    forwardMasks,
  );
  const dWeightDy = cornerStack([tf.neg(hx), tf.neg(lx), hx, lx], corners);
  const dWeightDx = cornerStack([tf.neg(hy), hy, tf.neg(ly), ly], corners);

  const rowIndex = (rows: tf.Tensor) => tf.cast(tf.clipByValue(rows, 0, height - 1), 'int32');
  const colIndex = (cols: tf.Tensor) => tf.cast(tf.clipByValue(cols, 0, width - 1), 'int32');
  const rows = [rowIndex(y0), rowIndex(tf.add(y0, 1))];
  const cols = [colIndex(x0), colIndex(tf.add(x0, 1))];
  // Index arithmetic stays int32 (a float32 index is exact only below 2^24).
  const int = (value: number) => tf.scalar(value, 'int32');
  const batchBase =
    pointBatchBase ??
    tf.reshape(tf.mul(tf.range(0, batch, 1, 'int32'), int(height)), [batch, 1, 1, 1]);
  const group = tf.reshape(tf.range(0, groups, 1, 'int32'), [
    ...new Array<number>(y.rank - 1).fill(1),
    groups,
  ]);
  const flatIndex = (r: tf.Tensor, c: tf.Tensor) =>
    tf.add(tf.mul(tf.add(tf.mul(tf.add(batchBase, r), int(width)), c), int(groups)), group);
  const indices = tf.stack(
    [
      flatIndex(rows[0] as tf.Tensor, cols[0] as tf.Tensor),
      flatIndex(rows[0] as tf.Tensor, cols[1] as tf.Tensor),
      flatIndex(rows[1] as tf.Tensor, cols[0] as tf.Tensor),
      flatIndex(rows[1] as tf.Tensor, cols[1] as tf.Tensor),
    ],
    -1,
  );
  const points = y.size;
  return {
    /** [B·Ho·Wo·G·4, 1] int32 rows of the flattened input (gatherND / scatterND indices). */
    indices: tf.reshape(indices, [points * 4, 1]) as tf.Tensor2D,
    /** [B·Ho·Wo·G, 1, 4] */
    weights: tf.reshape(weights, [points, 1, 4]) as tf.Tensor3D,
    /** [B·Ho·Wo·G, 4] */
    dWeightDy: tf.reshape(dWeightDy, [points, 4]) as tf.Tensor2D,
    dWeightDx: tf.reshape(dWeightDx, [points, 4]) as tf.Tensor2D,
  };
}

/**
 * Shapes and conv geometry of a deformable convolution, validated (shared by the dense and the
 * masked op): input [B, H, W, C], filter [kh, kw, C, O], C divisible by `deformGroups`, bias [O].
 */
export function deformGeometry(
  input: tf.Tensor4D,
  filter: tf.Tensor4D,
  options: Pick<DeformConv2dOptions, 'strides' | 'pad' | 'dilations' | 'deformGroups' | 'bias'>,
  where: string,
) {
  assertRank(input, 4, `${where} input`);
  assertRank(filter, 4, `${where} filter`);
  const [batch, height, width, channels] = input.shape;
  const [kh, kw, filterChannels, outChannels] = filter.shape;
  const groups = options.deformGroups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new Error(
      `${where}: deformGroups must be a positive divisor of the ${channels} input channels, got ${groups}`,
    );
  }
  if (filterChannels !== channels) {
    throw new Error(
      `${where}: filter [kh, kw, C, O] has C=${filterChannels}, input has ${channels} channels`,
    );
  }
  if (options.bias !== undefined && options.bias.shape.join() !== String(outChannels)) {
    throw new Error(
      `${where}: bias must be [${outChannels}], got [${options.bias.shape.join(', ')}]`,
    );
  }
  const geometry = convGeometry(
    input.shape,
    filter.shape,
    { strides: options.strides ?? 1, pad: options.pad ?? 0, dilations: options.dilations ?? 1 },
    where,
  );
  // The host sampling loops' view of the same geometry.
  const host: HostDeformGeometry = {
    batch,
    height,
    width,
    channels,
    outHeight: geometry.outHeight,
    outWidth: geometry.outWidth,
    kernelHeight: kh,
    kernelWidth: kw,
    strideHeight: geometry.strideHeight,
    strideWidth: geometry.strideWidth,
    dilationHeight: geometry.dilationHeight,
    dilationWidth: geometry.dilationWidth,
    top: geometry.top,
    left: geometry.left,
    groups,
  };
  return { batch, height, width, channels, kh, kw, outChannels, groups, geometry, host };
}

/**
 * Deformable convolution (Dai et al. 2017; DCNv2 modulation, Zhu et al. 2019), equal to
 * `torchvision.ops.deform_conv2d` in NHWC / HWIO: input [B, H, W, C], offset
 * [B, Ho, Wo, 2·G·kh·kw] with torchvision's channel order (g·2·kh·kw + 2·(i·kw + j) + {0: dy,
 * 1: dx}), filter [kh, kw, C, O]. Differentiable w.r.t. input, offset, filter, bias and
 * mask on every backend. Works tap by tap (like torchvision's im2col, one [B·Ho·Wo, C]
 * column per tap), and recomputes the bilinear taps in the backward pass instead of
 * keeping four gathered corners per tap alive. Corners are read with gatherND (row
 * copies; ~5× faster than GatherV2 on wasm) inside a custom gradient, and every matMul is
 * untransposed (transposed matMuls are ~10× slower on wasm).
 */
export function deformConv2d(
  input: tf.Tensor4D,
  offset: tf.Tensor4D,
  filter: tf.Tensor4D,
  options: DeformConv2dOptions = {},
): tf.Tensor4D {
  assertRank(offset, 4, `${where} offset`);
  const {
    batch,
    height,
    width,
    channels,
    kh,
    kw,
    outChannels,
    groups,
    geometry,
    host: hostGeometry,
  } = deformGeometry(input, filter, options, where);
  const { outHeight, outWidth } = geometry;
  const taps = kh * kw;
  const expectOffset = [batch, outHeight, outWidth, 2 * groups * taps];
  if (offset.shape.join() !== expectOffset.join()) {
    throw new Error(
      `${where}: offset must be [B, Ho, Wo, 2·deformGroups·kh·kw] = [${expectOffset.join(', ')}], got [${offset.shape.join(', ')}]`,
    );
  }
  const mask = options.mask;
  if (
    mask !== undefined &&
    mask.shape.join() !== [batch, outHeight, outWidth, groups * taps].join()
  ) {
    throw new Error(
      `${where}: mask must be [B, Ho, Wo, deformGroups·kh·kw] = [${[batch, outHeight, outWidth, groups * taps].join(', ')}], got [${mask.shape.join(', ')}]`,
    );
  }
  if (input.dtype !== 'float32' || offset.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`${where}: input, offset and filter must be float32`);
  }

  const points = batch * outHeight * outWidth;
  const groupChannels = channels / groups;
  const modulated = mask !== undefined;

  /** Sampling coordinates of tap (i, j) for every output position and group: [B, Ho, Wo, G] each. */
  const coordinates = (offsets: tf.Tensor, i: number, j: number) => {
    const k = i * kw + j;
    const rowBase = tf.reshape(
      tf.add(
        tf.mul(tf.range(0, outHeight), geometry.strideHeight),
        i * geometry.dilationHeight - geometry.top,
      ),
      [1, outHeight, 1, 1],
    );
    const colBase = tf.reshape(
      tf.add(
        tf.mul(tf.range(0, outWidth), geometry.strideWidth),
        j * geometry.dilationWidth - geometry.left,
      ),
      [1, 1, outWidth, 1],
    );
    const shape = [batch, outHeight, outWidth, groups];
    const dy = tf.reshape(tf.slice(offsets, [k, 0, 0, 0, 0, 0], [1, 1, ...shape]), shape);
    const dx = tf.reshape(tf.slice(offsets, [k, 1, 0, 0, 0, 0], [1, 1, ...shape]), shape);
    return { y: tf.add(rowBase, dy) as tf.Tensor4D, x: tf.add(colBase, dx) as tf.Tensor4D };
  };
  /** [K, 2, B, Ho, Wo, G]: taps first, so each tap's offsets are one contiguous slice. */
  const tapMajorOffsets = (o: tf.Tensor) =>
    tf.transpose(tf.reshape(o, [batch, outHeight, outWidth, groups, taps, 2]), [4, 5, 0, 1, 2, 3]);
  const tapMajorMask = (m: tf.Tensor) =>
    tf.transpose(tf.reshape(m, [batch, outHeight, outWidth, groups, taps]), [4, 0, 1, 2, 3]);
  const tapMask = (masks: tf.Tensor, k: number) =>
    tf.reshape(tf.slice(masks, [k, 0, 0, 0, 0], [1, batch, outHeight, outWidth, groups]), [
      points * groups,
      1,
    ]);
  const tapFilter = (w: tf.Tensor, i: number, j: number) =>
    tf.reshape(tf.slice(w, [i, j, 0, 0], [1, 1, channels, outChannels]), [
      channels,
      outChannels,
    ]) as tf.Tensor2D;

  const tapFilterTransposed = (wT: tf.Tensor, i: number, j: number) =>
    tf.reshape(tf.slice(wT, [i, j, 0, 0], [1, 1, outChannels, channels]), [
      outChannels,
      channels,
    ]) as tf.Tensor2D;

  const convolve = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, o, w, m, save] = args as [
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
      tf.GradSaveFunc,
    ];
    save([x, o, w, m]);
    const flat = tf.reshape(x, [batch * height * width * groups, groupChannels]);
    const offsets = tapMajorOffsets(o);
    const masks = modulated ? tapMajorMask(m) : undefined;
    let out: tf.Tensor2D = tf.zeros([points, outChannels]);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const next = tf.tidy(() => {
          const { y, x: xs } = coordinates(offsets, i, j);
          const tap = bilinearTaps(y, xs, height, width);
          const gathered = tf.reshape(tf.gatherND(flat, tap.indices), [
            points * groups,
            4,
            groupChannels,
          ]);
          let column = tf.reshape(tf.matMul(tap.weights, gathered), [
            points * groups,
            groupChannels,
          ]);
          if (masks) column = tf.mul(column, tapMask(masks, i * kw + j));
          return tf.add(
            out,
            tf.matMul(tf.reshape(column, [points, channels]), tapFilter(w, i, j)),
          ) as tf.Tensor2D;
        });
        out.dispose();
        out = next;
      }
    }
    const value = tf.reshape(out, [batch, outHeight, outWidth, outChannels]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, os, ws, ms] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        return tf.tidy(() => backward(dy as tf.Tensor4D, xs, os, ws, ms));
      },
    };
  });

  const backward = (
    dy: tf.Tensor4D,
    x: tf.Tensor4D,
    o: tf.Tensor4D,
    w: tf.Tensor4D,
    m: tf.Tensor4D,
  ): tf.Tensor[] => {
    const flat = tf.reshape(x, [batch * height * width * groups, groupChannels]);
    const offsets = tapMajorOffsets(o);
    const masks = modulated ? tapMajorMask(m) : undefined;
    const dyMatrix = tf.reshape(dy, [points, outChannels]);
    const wT = tf.transpose(w, [0, 1, 3, 2]);
    let dInput = tf.zerosLike(flat) as tf.Tensor2D;
    const dFilter: tf.Tensor[] = [];
    const dOffset: tf.Tensor[] = [];
    const dMask: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const [nextInput, ...grads] = tf.tidy(() => {
          const { y, x: xs } = coordinates(offsets, i, j);
          const tap = bilinearTaps(y, xs, height, width);
          const gathered = tf.reshape(tf.gatherND(flat, tap.indices), [
            points * groups,
            4,
            groupChannels,
          ]);
          const sampled = tf.reshape(tf.matMul(tap.weights, gathered), [
            points * groups,
            groupChannels,
          ]);
          const modulation = masks ? tapMask(masks, i * kw + j) : undefined;
          const column = modulation ? tf.mul(sampled, modulation) : sampled;
          const filterGrad = tf.matMul(
            tf.transpose(tf.reshape(column, [points, channels])),
            dyMatrix,
          );
          const dColumn = tf.reshape(tf.matMul(dyMatrix, tapFilterTransposed(wT, i, j)), [
            points * groups,
            groupChannels,
          ]);
          const dSampled = modulation ? tf.mul(dColumn, modulation) : dColumn;
          // d(sampled)/d(y or x) = Σ_corner dWeight·value: one [4, C/G] · [C/G] product per point.
          const perCorner = tf.reshape(
            tf.matMul(gathered, tf.reshape(dSampled, [points * groups, groupChannels, 1])),
            [points * groups, 4],
          );
          const dy_ = tf.sum(tf.mul(tap.dWeightDy, perCorner), 1);
          const dx_ = tf.sum(tf.mul(tap.dWeightDx, perCorner), 1);
          const updates = tf.matMul(
            tf.reshape(tap.weights, [points * groups, 4, 1]),
            tf.reshape(dSampled, [points * groups, 1, groupChannels]),
          );
          const scattered = tf.scatterND(
            tap.indices,
            tf.reshape(updates, [4 * points * groups, groupChannels]),
            flat.shape,
          );
          const maskGrad = modulation
            ? tf.sum(tf.mul(sampled, dColumn), 1)
            : tf.zeros([points * groups]);
          return [
            tf.add(dInput, scattered),
            filterGrad,
            tf.stack([dy_, dx_]),
            maskGrad,
          ] as tf.Tensor[];
        });
        dInput.dispose();
        dInput = nextInput as tf.Tensor2D;
        dFilter.push(grads[0] as tf.Tensor);
        dOffset.push(grads[1] as tf.Tensor);
        dMask.push(grads[2] as tf.Tensor);
      }
    }
    // [K, 2, B·Ho·Wo·G] back to torchvision's channel order (g, k, {dy, dx}).
    const offsetGrad = tf.reshape(
      tf.transpose(tf.reshape(tf.stack(dOffset), [taps, 2, points, groups]), [2, 3, 0, 1]),
      o.shape,
    );
    const maskGrad = modulated
      ? tf.reshape(
          tf.transpose(tf.reshape(tf.stack(dMask), [taps, points, groups]), [1, 2, 0]),
          m.shape,
        )
      : tf.zerosLike(m);
    return [
      tf.reshape(dInput, x.shape),
      offsetGrad,
      tf.reshape(tf.stack(dFilter), w.shape),
      maskGrad,
    ];
  };

  const sampling = options.sampling ?? 'auto';
  const onHost = sampling === 'host' || (sampling === 'auto' && hasSyncReadback(tf.getBackend()));
  /**
   * Sampling on the host, tap by tap, with the tensor path's float32 rounding and the same
   * per-tap matMuls, so both paths give the same bits; each tap's column is kept for its
   * filter gradient.
   */
  const hostConvolve = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, o, w, m, save] = args as [
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
      tf.GradSaveFunc,
    ];
    // Read once: the backward pass samples the same values (kept only while the tape keeps
    // the gradient function).
    const inputValues = x.dataSync() as Float32Array;
    const offsetValues = o.dataSync() as Float32Array;
    const maskValues = modulated ? (m.dataSync() as Float32Array) : undefined;
    const sampler = deformTapSampler(hostGeometry, inputValues, offsetValues, maskValues);
    const onWasm = tf.getBackend() === 'wasm';
    if (sampler.convolve && sampler.convolveBackward && onWasm) {
      // The whole conv in the sampling kernels' module: its products are the wasm backend's
      // matMul bits (tested), so this path and the per-tap one below agree exactly.
      const filterValues = w.dataSync() as Float32Array;
      const out = sampler.convolve(filterValues, outChannels);
      save([x, o, w, m]);
      const convolveBackward = sampler.convolveBackward.bind(sampler);
      return {
        value: tf.tensor4d(out, [batch, outHeight, outWidth, outChannels]),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, os, ws, ms] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
          const grads = convolveBackward(dy.dataSync() as Float32Array, filterValues, outChannels);
          return [
            tf.tensor(grads.input, xs.shape),
            tf.tensor(grads.offset, os.shape),
            tf.tensor(grads.filter, ws.shape),
            tf.zerosLike(ms),
          ];
        },
      };
    }
    const copiesOnWrite = onWasm;
    const columns: tf.Tensor2D[] = [];
    // Each tap's [C, O] filter in one op (exact copies of tapFilter's slices).
    const tapFilters = tf.unstack(tf.reshape(w, [taps, channels, outChannels])) as tf.Tensor2D[];
    let out: tf.Tensor2D = tf.zeros([points, outChannels]);
    for (let tap = 0; tap < taps; tap++) {
      // tfjs-backend-wasm copies a new tensor's values into its heap at once; the cpu backend
      // keeps the array, so it gets its own copy.
      const column = tf.tensor2d(sampler.column(tap, { view: copiesOnWrite }), [points, channels]);
      columns.push(column);
      out = tf.add(out, tf.matMul(column, tapFilters[tap] as tf.Tensor2D));
    }
    // Saved only while a gradient tape records (tfjs' customGrad), freed after backprop.
    save([x, o, w, m, ...columns]);
    return {
      value: tf.reshape(out, [batch, outHeight, outWidth, outChannels]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, os, ws, ms, ...savedColumns] = saved as [
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          tf.Tensor4D,
          ...tf.Tensor2D[],
        ];
        return tf.tidy(() => {
          const dyMatrix = tf.reshape(dy, [points, outChannels]);
          // Each tap's [O, C] filter in one op (exact transposes).
          const filtersT = tf.unstack(
            tf.transpose(tf.reshape(ws, [taps, channels, outChannels]), [0, 2, 1]),
          ) as tf.Tensor2D[];
          const backSampler = deformTapSampler(hostGeometry, inputValues, offsetValues, maskValues);
          const filterGrads: tf.Tensor[] = [];
          for (let tap = 0; tap < taps; tap++) {
            // Untransposed matMuls only: transposed ones are ~10× slower on wasm.
            const columnGrad = tf.matMul(dyMatrix, filtersT[tap] as tf.Tensor2D);
            backSampler.addGradients(tap, columnGrad.dataSync() as Float32Array);
            columnGrad.dispose();
            filterGrads.push(tf.matMul(tf.transpose(savedColumns[tap] as tf.Tensor2D), dyMatrix));
          }
          const grads = backSampler.gradients();
          return [
            tf.tensor(grads.input, xs.shape),
            tf.tensor(grads.offset, os.shape),
            tf.reshape(tf.stack(filterGrads), ws.shape),
            modulated ? tf.tensor(grads.mask, ms.shape) : tf.zerosLike(ms),
          ];
        });
      },
    };
  });

  return tf.tidy(() => {
    if (points === 0 || outChannels === 0) {
      // Empty batch or output: keep the result a function of the inputs so gradients exist.
      const empty = tf.mul(tf.sum(filter), tf.zeros([batch, outHeight, outWidth, outChannels]));
      return (options.bias ? tf.add(empty, options.bias) : empty) as tf.Tensor4D;
    }
    const modulation = mask ?? tf.zeros([1, 1, 1, 1]);
    const out = (onHost ? hostConvolve : convolve)(
      input,
      offset,
      filter,
      modulation,
    ) as tf.Tensor4D;
    return options.bias ? tf.add(out, options.bias) : out;
  });
}
