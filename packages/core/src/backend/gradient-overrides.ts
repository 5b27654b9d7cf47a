import * as tf from '@tensorflow/tfjs-core';

/**
 * Gradients for kernels whose stock gradient needs a kernel the active backend lacks.
 * On wasm, Conv2DBackpropFilter, the depthwise backprops and UnsortedSegmentSum (GatherV2's
 * gradient) do not exist (DESIGN.md); we rewrite them with forward convolutions and
 * scatterND, which every backend has. Registered per kernel name for ALL backends at once,
 * so each must be exact everywhere: the tests compare them with the cpu stock gradients.
 */

type Conv2DAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

function convInfo(xShape: number[], filterShape: number[], attrs: Conv2DAttrs) {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(
      `det conv2d gradient: only NHWC is supported, got dataFormat=${attrs.dataFormat}`,
    );
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

/** Pads (positive) or crops (negative) the two spatial axes of an NHWC tensor. */
function padOrCrop(
  x: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
): tf.Tensor4D {
  let out = x;
  const cropTop = Math.max(0, -top);
  const cropBottom = Math.max(0, -bottom);
  const cropLeft = Math.max(0, -left);
  const cropRight = Math.max(0, -right);
  if (cropTop || cropBottom || cropLeft || cropRight) {
    const [b, h, w, c] = out.shape;
    out = tf.slice(
      out,
      [0, cropTop, cropLeft, 0],
      [b, h - cropTop - cropBottom, w - cropLeft - cropRight, c],
    );
  }
  const padTop = Math.max(0, top);
  const padBottom = Math.max(0, bottom);
  const padLeft = Math.max(0, left);
  const padRight = Math.max(0, right);
  if (padTop || padBottom || padLeft || padRight) {
    out = tf.pad(out, [
      [0, 0],
      [padTop, padBottom],
      [padLeft, padRight],
      [0, 0],
    ]);
  }
  return out;
}

/**
 * `tf.conv2d` (NHWC, 'valid') of `x` padded (positive) or cropped (negative) on its spatial
 * axes. Padding goes to the conv as explicit padding instead of a PadV2 of the whole input:
 * the same sums (the padded taps add zeros), one launch and one activation copy fewer.
 */
function convPadded(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: [number, number],
  [top, bottom, left, right]: [number, number, number, number],
  dilations: [number, number],
): tf.Tensor4D {
  const cropped = padOrCrop(
    x,
    Math.min(top, 0),
    Math.min(bottom, 0),
    Math.min(left, 0),
    Math.min(right, 0),
  );
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [Math.max(top, 0), Math.max(bottom, 0)],
    [Math.max(left, 0), Math.max(right, 0)],
    [0, 0],
  ];
  return tf.conv2d(cropped, filter, strides, pad, 'NHWC', dilations);
}

/** Inserts (stride - 1) zeros between rows and columns: [B,H,W,C] → [B,(H-1)s+1,(W-1)s+1,C]. */
function zeroInsert(x: tf.Tensor4D, strideH: number, strideW: number): tf.Tensor4D {
  if (strideH === 1 && strideW === 1) return x;
  const [b, h, w, c] = x.shape;
  const expanded = tf.reshape(x, [b, h, 1, w, 1, c]);
  const padded = tf.pad(expanded, [
    [0, 0],
    [0, 0],
    [0, strideH - 1],
    [0, 0],
    [0, strideW - 1],
    [0, 0],
  ]);
  const spread = tf.reshape(padded, [b, h * strideH, w * strideW, c]);
  return tf.slice(
    spread,
    [0, 0, 0, 0],
    [b, (h - 1) * strideH + 1, (w - 1) * strideW + 1, c],
  ) as tf.Tensor4D;
}

/**
 * dL/dfilter of an NHWC conv as ONE forward conv: the input, transposed to [C, H, W, B],
 * is convolved with dy transposed to [Ho, Wo, B, O]; the forward stride becomes the
 * dilation and the forward dilation the stride. When both exceed 1 (tfjs refuses that
 * conv), each filter tap is a strided slice times dy as a matmul.
 */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  attrs: Conv2DAttrs,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(x.shape, filterShape, attrs);
    const [kh, kw, inChannels, outChannels] = filterShape;
    const { top, bottom, left, right } = info.padInfo;
    const [strideH, strideW] = [info.strideHeight, info.strideWidth];
    const [dilationH, dilationW] = [info.dilationHeight, info.dilationWidth];
    const [batch, outH, outW] = dy.shape;
    if ((strideH > 1 || strideW > 1) && (dilationH > 1 || dilationW > 1)) {
      const xPadded = padOrCrop(x, top, bottom, left, right);
      const dyMatrix = tf.reshape(dy, [batch * outH * outW, outChannels]);
      const taps: tf.Tensor2D[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const patch = tf.stridedSlice(
            xPadded,
            [0, i * dilationH, j * dilationW, 0],
            [
              batch,
              i * dilationH + (outH - 1) * strideH + 1,
              j * dilationW + (outW - 1) * strideW + 1,
              inChannels,
            ],
            [1, strideH, strideW, 1],
          );
          taps.push(tf.matMul(tf.reshape(patch, [-1, inChannels]), dyMatrix, true, false));
        }
      }
      return tf.reshape(tf.stack(taps), filterShape);
    }
    // [B, H, W, C] → [C, H, W, B]: the batch becomes the contracted channel axis.
    const xT = tf.transpose(x, [3, 1, 2, 0]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    const full = convPadded(
      xT,
      dyT,
      [dilationH, dilationW],
      [top, bottom, left, right],
      [strideH, strideW],
    );
    const cropped = tf.slice(full, [0, 0, 0, 0], [inChannels, kh, kw, outChannels]);
    return tf.transpose(cropped, [1, 2, 0, 3]);
  });
}

/**
 * dL/dinput of an NHWC conv as ONE forward conv. Stride 1: dy padded so the flipped,
 * in/out-swapped filter (dilated as in the forward pass) slides over every input position.
 * Equal strides s > 1 (no dilation): polyphase — input row j = q·s + r only receives the
 * taps r, r + s, …, so all s² phases are one stride-1 conv of dy whose output channels are
 * (phase, C), interleaved depth-to-space. That is ≈1.8× the forward cost for a 3×3, s = 2
 * conv instead of the 4× of convolving zero-inserted dy, which remains the fallback (mixed
 * strides, or stride with dilation). Handles dilation, which stock tfjs refuses.
 */
export function conv2dInputGradient(
  xShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: Conv2DAttrs,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(xShape, filter.shape, attrs);
    const stride = info.strideHeight;
    if (
      stride > 1 &&
      info.strideWidth === stride &&
      info.dilationHeight === 1 &&
      info.dilationWidth === 1
    ) {
      return polyphaseInputGradient(
        xShape,
        dy,
        filter,
        stride,
        info.padInfo.top,
        info.padInfo.left,
      );
    }
    const [kh, kw] = filter.shape;
    const [, height, width] = xShape;
    const { top, left } = info.padInfo;
    const [dilationH, dilationW] = [info.dilationHeight, info.dilationWidth];
    const spread = zeroInsert(dy, info.strideHeight, info.strideWidth);
    const padTop = (kh - 1) * dilationH - top;
    const padLeft = (kw - 1) * dilationW - left;
    const padBottom = height + (kh - 1) * dilationH - padTop - spread.shape[1];
    const padRight = width + (kw - 1) * dilationW - padLeft - spread.shape[2];
    const flipped = flipLeadingGrid(tf.transpose(filter, [0, 1, 3, 2]));
    return convPadded(
      spread,
      flipped,
      [1, 1],
      [padTop, padBottom, padLeft, padRight],
      [dilationH, dilationW],
    );
  });
}

/**
 * Reverses axes 0 and 1 together (a filter's kernel grid turned 180°) as ONE gatherND over
 * the flattened grid: a 180° turn of a row-major grid reverses its flat index. wasm's Reverse
 * kernel is ~16× slower than this gatherND (9.2 vs 0.6 ms for a 3×3×128×128 filter).
 */
function flipLeadingGrid<T extends tf.Tensor>(x: T): T {
  const [rows, cols, ...rest] = x.shape as number[];
  const cells = (rows as number) * (cols as number);
  const inner = rest.reduce((a, b) => a * b, 1);
  const reversed = tf.tensor2d(
    Array.from({ length: cells }, (_, index) => cells - 1 - index),
    [cells, 1],
    'int32',
  );
  return tf.reshape(tf.gatherND(tf.reshape(x, [cells, inner]), reversed), x.shape) as T;
}

function polyphaseInputGradient(
  xShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  stride: number,
  padTop: number,
  padLeft: number,
): tf.Tensor4D {
  const [batch, height, width, inChannels] = xShape;
  const [kh, kw, , outChannels] = filter.shape;
  const [, outH, outW] = dy.shape;
  const taps = [Math.ceil(kh / stride), Math.ceil(kw / stride)] as const;
  // Phase filter F[m', r] = w[r + (M − 1 − m')·s]: pad w to M·s taps, split (m, r), reverse m.
  const padded = tf.pad(filter, [
    [0, taps[0] * stride - kh],
    [0, taps[1] * stride - kw],
    [0, 0],
    [0, 0],
  ]);
  const split = tf.reshape(padded, [taps[0], stride, taps[1], stride, inChannels, outChannels]);
  const phaseFilter = tf.reshape(flipLeadingGrid(tf.transpose(split, [0, 2, 5, 1, 3, 4])), [
    taps[0],
    taps[1],
    outChannels,
    stride * stride * inChannels,
  ]) as tf.Tensor4D;
  // Rows j = q·s + r of the padded input, q ∈ [0, Q), cover [padTop, padTop + H).
  const rowsQ = Math.ceil((padTop + height) / stride);
  const colsQ = Math.ceil((padLeft + width) / stride);
  const phases = convPadded(
    dy,
    phaseFilter,
    [1, 1],
    [taps[0] - 1, rowsQ - outH, taps[1] - 1, colsQ - outW],
    [1, 1],
  );
  // depthToSpace, written as a transpose that keeps channels innermost: wasm's DepthToSpace
  // kernel is ~30× slower than this.
  const interleaved = tf.reshape(
    tf.transpose(
      tf.reshape(phases, [batch, rowsQ, colsQ, stride, stride, inChannels]),
      [0, 1, 3, 2, 4, 5],
    ),
    [batch, rowsQ * stride, colsQ * stride, inChannels],
  );
  return tf.slice(
    interleaved,
    [0, padTop, padLeft, 0],
    [batch, height, width, inChannels],
  ) as tf.Tensor4D;
}

const conv2dGradConfig: tf.GradConfig = {
  kernelName: tf.Conv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const convAttrs = attrs as unknown as Conv2DAttrs;
    return {
      x: () => conv2dInputGradient(x.shape, dy as tf.Tensor4D, filter, convAttrs),
      filter: () => conv2dFilterGradient(x, dy as tf.Tensor4D, filter.shape, convAttrs),
    };
  },
};

/** conv2dTranspose(dy, filter) is Conv2DBackpropInput; its gradients are a conv and a filter gradient. */
const conv2dBackpropInputGradConfig: tf.GradConfig = {
  kernelName: tf.Conv2DBackpropInput,
  inputsToSave: ['dy', 'filter'],
  gradFunc: (ddx, saved, attrs) => {
    const [dy, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const convAttrs = attrs as unknown as Conv2DAttrs & { inputShape: number[] };
    return {
      dy: () =>
        tf.conv2d(
          ddx as tf.Tensor4D,
          filter,
          convAttrs.strides,
          convAttrs.pad as 'valid' | 'same',
          'NHWC',
          convAttrs.dilations ?? 1,
          convAttrs.dimRoundingMode,
        ),
      // The forward conv maps ddx (the "input") to dy (the "output").
      filter: () => conv2dFilterGradient(ddx as tf.Tensor4D, dy, filter.shape, convAttrs),
    };
  },
};

/** GatherV2's stock gradient uses UnsortedSegmentSum; scatterND sums duplicate indices too. */
const gatherV2GradConfig: tf.GradConfig = {
  kernelName: tf.GatherV2,
  inputsToSave: ['x', 'indices'],
  gradFunc: (dy, saved, attrs) => {
    const [x, indices] = saved as [tf.Tensor, tf.Tensor];
    const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
    return {
      x: () =>
        tf.tidy(() => {
          if (batchDims !== 0) {
            throw new Error(
              `det GatherV2 gradient: batchDims=${batchDims} is not supported (only 0)`,
            );
          }
          const rank = x.shape.length;
          const gatherAxis = tf.util.parseAxisParam(axis, x.shape)[0] ?? 0;
          // Move the gathered axis to the front of x and of dy.
          const xPerm = [gatherAxis, ...[...Array(rank).keys()].filter((d) => d !== gatherAxis)];
          const indexRank = indices.shape.length;
          const dyRank = (dy as tf.Tensor).shape.length;
          const indexAxes = [...Array(indexRank).keys()].map((d) => d + gatherAxis);
          const dyPerm = [
            ...indexAxes,
            ...[...Array(dyRank).keys()].filter(
              (d) => d < gatherAxis || d >= gatherAxis + indexRank,
            ),
          ];
          const dyFront = tf.transpose(dy as tf.Tensor, dyPerm);
          const innerShape = xPerm.slice(1).map((d) => x.shape[d] as number);
          const flatIndices = tf.reshape(tf.cast(indices, 'int32'), [indices.size, 1]);
          const updates = tf.reshape(dyFront, [indices.size, ...innerShape]);
          const scattered = tf.scatterND(flatIndices, updates, [
            x.shape[gatherAxis] as number,
            ...innerShape,
          ]);
          const inverse = xPerm.map((_, i) => xPerm.indexOf(i));
          return tf.transpose(scattered, inverse);
        }),
      indices: () => tf.zerosLike(indices),
    };
  },
};

/** Comparisons and logical ops are piecewise constant: their gradient is zero, not missing. */
const zeroGradientBinaryKernels = [
  tf.Equal,
  tf.NotEqual,
  tf.Greater,
  tf.GreaterEqual,
  tf.Less,
  tf.LessEqual,
  tf.LogicalAnd,
  tf.LogicalOr,
];
const zeroGradientUnaryKernels = [
  tf.LogicalNot,
  tf.IsNan,
  tf.IsFinite,
  tf.IsInf,
  tf.ArgMax,
  tf.ArgMin,
];

export const zeroGradientConfigs: tf.GradConfig[] = [
  ...zeroGradientBinaryKernels.map(
    (kernelName): tf.GradConfig => ({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => {
        const [a, b] = saved as [tf.Tensor, tf.Tensor];
        return { a: () => tf.zerosLike(a), b: () => tf.zerosLike(b) };
      },
    }),
  ),
  ...zeroGradientUnaryKernels.map(
    (kernelName): tf.GradConfig => ({
      kernelName,
      inputsToSave: ['x'],
      gradFunc: (_dy, saved) => {
        const [x] = saved as [tf.Tensor];
        return { x: () => tf.zerosLike(x) };
      },
    }),
  ),
];

/** Kernels each override stands in for: registered only if the backend lacks one of them. */
/**
 * `dx` of a 1×1 max pool (a strided subsample, x[i·sh, j·sw]): `dy` scattered to every
 * (sh, sw)-th position, zeros elsewhere, with pads, reshapes and slices only.
 */
export function subsampleGradient(
  dy: tf.Tensor4D,
  xShape: readonly number[],
  strides: [number, number],
): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, outHeight, outWidth, channels] = dy.shape;
    const [, height, width] = xShape as [number, number, number, number];
    const [strideHeight, strideWidth] = strides;
    // Columns: output column j lands at input column j·sw.
    let g: tf.Tensor = tf.reshape(dy, [batch * outHeight * outWidth, 1, channels]);
    if (strideWidth > 1)
      g = tf.pad(g, [
        [0, 0],
        [0, strideWidth - 1],
        [0, 0],
      ]);
    g = tf.reshape(g, [batch * outHeight, outWidth * strideWidth, channels]);
    g = tf.slice(g, [0, 0, 0], [batch * outHeight, width, channels]);
    // Rows: output row i lands at input row i·sh.
    g = tf.reshape(g, [batch * outHeight, 1, width * channels]);
    if (strideHeight > 1)
      g = tf.pad(g, [
        [0, 0],
        [0, strideHeight - 1],
        [0, 0],
      ]);
    g = tf.reshape(g, [batch, outHeight * strideHeight, width, channels]);
    return tf.slice(g, [0, 0, 0, 0], [batch, height, width, channels]) as tf.Tensor4D;
  });
}

const pairOf = (value: number | [number, number]): [number, number] =>
  typeof value === 'number' ? [value, value] : value;

/**
 * MaxPool's gradient: a 1×1 pool (FPN's P6 = max_pool2d(P5, 1, stride=2)) is a subsample, so
 * its gradient is a scatter (`subsampleGradient`); other pools use the stock MaxPoolGrad.
 * tfjs-backend-wasm 4.22's MaxPoolGrad starts each window's max at 0, so a window of only
 * negative values passes no gradient at all: every P2–P6 detector (RPN, Faster R-CNN, …)
 * lost most of P5's gradient through P6 on wasm. (det's own wasm MaxPoolGrad, `wasm-kernels.ts`, now
 * replaces that kernel and is exact; the 1×1 path stays as the cheaper formulation.) (Larger pools in det follow a ReLU, where
 * that bug changes nothing: the gradient it drops meets ReLU's zero derivative.)
 */
const maxPoolGradConfig: tf.GradConfig = {
  kernelName: tf.MaxPool,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
      filterSize: number | [number, number];
      strides: number | [number, number];
      pad: 'valid' | 'same' | number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
    };
    const [filterHeight, filterWidth] = pairOf(filterSize);
    if (filterHeight === 1 && filterWidth === 1 && (pad === 'valid' || pad === 'same')) {
      return { x: () => subsampleGradient(dy as tf.Tensor4D, x.shape, pairOf(strides)) };
    }
    return {
      x: () =>
        tf.engine().runKernel(
          tf.MaxPoolGrad,
          { dy, input: x, output: y } as unknown as tf.NamedTensorMap,
          {
            filterSize,
            strides,
            pad,
            dimRoundingMode,
          } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor,
    };
  },
};

export const gradientOverrides: ReadonlyArray<{
  config: tf.GradConfig;
  /** Kernels the stock gradient needs: replaced where the backend lacks one. */
  needs: string[];
  /** Backends whose kernel for the stock gradient is wrong: replaced there too. */
  wrongOn?: string[];
}> = [
  { config: conv2dGradConfig, needs: [tf.Conv2DBackpropFilter] },
  { config: conv2dBackpropInputGradConfig, needs: [tf.Conv2DBackpropFilter] },
  { config: gatherV2GradConfig, needs: [tf.UnsortedSegmentSum] },
  { config: maxPoolGradConfig, needs: [tf.MaxPoolGrad], wrongOn: ['wasm'] },
];

export { conv2dBackpropInputGradConfig, conv2dGradConfig, gatherV2GradConfig, maxPoolGradConfig };

/**
 * Registers the overrides the named backend needs (and only those: a missing kernel, or one
 * known to be wrong there), plus zero gradients
 * for comparison ops, which no backend has. Returns the kernel names whose gradient was
 * replaced.
 */
export function registerGradientOverrides(backendName: string): string[] {
  const available = new Set(tf.getKernelsForBackend(backendName).map((k) => k.kernelName));
  const replaced: string[] = [];
  for (const { config, needs, wrongOn } of gradientOverrides) {
    if (needs.some((kernel) => !available.has(kernel)) || wrongOn?.includes(backendName)) {
      tf.registerGradient(config);
      replaced.push(config.kernelName);
    }
  }
  for (const config of zeroGradientConfigs) {
    if (tf.getGradient(config.kernelName) === undefined) tf.registerGradient(config);
  }
  return replaced;
}
