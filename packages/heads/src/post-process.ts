import { type BoxCoder, batchedNms, type Reads, readAsync, readSync } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  type AnchorLevelOutput,
  type CompactLevelOutput,
  type InferenceLevelOutput,
  isCompactLevelOutput,
} from './anchor-function';
import { checkImageShapes } from './image-shapes';
import type { Detections, ImageShape } from './types';

/** mmdetection's `test_cfg` of a dense or RoI head (RetinaNet / Faster R-CNN 1× defaults). */
export interface DetectionTestConfig {
  /** Candidates kept per level before NMS, by best class score (`nms_pre`). Default 1000. */
  nmsPre?: number;
  /** Only (box, class) pairs scoring above this enter NMS (`score_thr`). Default 0.05. */
  scoreThreshold?: number;
  /** IoU of the per-class NMS (`nms.iou_threshold`). Default 0.5. */
  iouThreshold?: number;
  /** Detections kept per image (`max_per_img`). Default 100. */
  maxPerImage?: number;
}

/** mmdetection's RPN `test_cfg` (v2: per-level NMS through `batched_nms` over level ids). */
export interface ProposalConfig {
  /** Candidates per level before NMS (`nms_pre`). Default 1000. */
  nmsPre?: number;
  /** IoU of the per-level NMS. Default 0.7. */
  iouThreshold?: number;
  /** Proposals kept per image (`max_per_img`). Default 1000. */
  maxPerImage?: number;
  /** Boxes with a side ≤ this are dropped (`min_bbox_size`). Default 0. */
  minBoxSize?: number;
}

export const detectionTestDefaults: Required<DetectionTestConfig> = {
  nmsPre: 1000,
  scoreThreshold: 0.05,
  iouThreshold: 0.5,
  maxPerImage: 100,
};

export const proposalDefaults: Required<ProposalConfig> = {
  nmsPre: 1000,
  iouThreshold: 0.7,
  maxPerImage: 1000,
  minBoxSize: 0,
};

/** One image's proposals on the host, xyxy in input pixels, scores decreasing. */
export interface Proposals {
  boxes: Float32Array;
  scores: Float32Array;
}

/** Image `image`'s `[N, C]` rows of a per-image `[B, N, C]` tensor; a shared `[N, C]` tensor as is. */
function imageRows(tensor: tf.Tensor, image: number): tf.Tensor {
  if (tensor.rank === 2) return tensor;
  const [, rows, width] = tensor.shape as [number, number, number];
  return tf.reshape(tf.slice(tensor, [image, 0, 0], [1, rows, width]), [rows, width]);
}

/**
 * Image `image`'s evaluated rows of the `[B, N]` `evaluated` mask as an int32 index tensor
 * (Guided Anchoring's εL: a location below it has no anchor, so it must yield no candidate).
 */
function* evaluatedRows(evaluated: tf.Tensor2D, image: number): Reads<tf.Tensor1D> {
  const [, rows] = evaluated.shape;
  const row = tf.slice(evaluated, [image, 0], [1, rows]);
  let flags: tf.TypedArray;
  try {
    flags = yield row;
  } finally {
    row.dispose();
  }
  const kept: number[] = [];
  for (let index = 0; index < rows; index++) if (flags[index]) kept.push(index);
  return tf.tensor1d(kept, 'int32');
}

/** Images of an inference level output (the batch). */
function batchOf(output: InferenceLevelOutput | undefined): number | undefined {
  if (!output) return undefined;
  return isCompactLevelOutput(output) ? output.rowsPerImage.length : output.clsScores.shape[0];
}

/** Image `image`'s rows of a compact level output (views, for a tidy scope). */
function compactRows(output: CompactLevelOutput, image: number) {
  let start = 0;
  for (let b = 0; b < image; b++) start += output.rowsPerImage[b]!;
  const rows = output.rowsPerImage[image]!;
  const take = (tensor: tf.Tensor2D) => tf.slice(tensor, [start, 0], [rows, tensor.shape[1]]);
  return {
    probabilities: tf.sigmoid(take(output.clsScores)) as tf.Tensor2D,
    deltas: take(output.boxDeltas),
    priors: take(output.priors),
  };
}

/** One level's candidates of one image before decoding: the `nmsPre` best rows. */
type LevelTop = { probabilities: tf.Tensor2D; deltas: tf.Tensor; priors: tf.Tensor };

/**
 * The `nmsPre` best rows (by sigmoid class score) of one level of one image, not yet decoded.
 * With an `evaluated` mask only the evaluated rows are candidates (mmdetection's `GARPNHead` /
 * `GuidedAnchorHead` index the anchors and scores with the mask before `nms_pre`); a compact
 * output holds only those rows. Null when the level has no row for the image.
 */
function* levelTop(
  output: InferenceLevelOutput,
  image: number,
  nmsPre: number,
): Reads<LevelTop | null> {
  const compact = isCompactLevelOutput(output) ? output : null;
  // Nothing evaluated on this level of this image: no candidate, no device work.
  if (compact && compact.rowsPerImage[image] === 0) return null;
  const dense = compact ? null : (output as AnchorLevelOutput);
  const kept = dense?.evaluated ? yield* evaluatedRows(dense.evaluated, image) : null;
  try {
    if (kept?.size === 0) return null;
    return tf.tidy(() => {
      if (!dense) return topRows(compactRows(compact!, image), nmsPre);
      let probabilities = tf.sigmoid(imageRows(dense.clsScores, image)) as tf.Tensor2D;
      let deltas = imageRows(dense.boxDeltas, image) as tf.Tensor2D;
      let priors = imageRows(dense.priors, image) as tf.Tensor2D;
      if (kept) {
        probabilities = tf.gather(probabilities, kept);
        deltas = tf.gather(deltas, kept);
        priors = tf.gather(priors, kept);
      }
      const top = topRows({ probabilities, deltas, priors }, nmsPre);
      // Shared [N, 4] priors come back as the level's own tensor: the caller frees its copy.
      return top.priors === dense.priors ? { ...top, priors: tf.clone(top.priors) } : top;
    });
  } finally {
    kept?.dispose();
  }
}

/**
 * The candidates of one image over all levels: each level's `nmsPre` best rows, decoded and
 * clipped to the image in one pass (decoding is row-wise: the same boxes as level by level,
 * with one set of decode kernels and two readbacks per image instead of per level), with the
 * number of rows each level contributed.
 */
function* imageCandidates(
  outputs: readonly InferenceLevelOutput[],
  image: number,
  coder: BoxCoder,
  imageShape: ImageShape,
  nmsPre: number,
): Reads<{ boxes: Float32Array; scores: Float32Array; counts: number[]; classes: number }> {
  const tops: (LevelTop | null)[] = [];
  try {
    for (const output of outputs) tops.push(yield* levelTop(output, image, nmsPre));
    const scoreShape = outputs[0]?.clsScores.shape ?? [0];
    const classes = scoreShape[scoreShape.length - 1]!;
    const counts = tops.map((top) => top?.probabilities.shape[0] ?? 0);
    const present = tops.filter((top): top is LevelTop => top !== null);
    if (present.length === 0) {
      return { boxes: new Float32Array(0), scores: new Float32Array(0), counts, classes };
    }
    const [boxes, scores] = tf.tidy(() => {
      const all = (pick: (top: LevelTop) => tf.Tensor) =>
        present.length === 1 ? pick(present[0]!) : tf.concat(present.map(pick));
      return [
        coder.decode(
          all((top) => top.priors),
          all((top) => top.deltas),
          { maxShape: imageShape },
        ),
        all((top) => top.probabilities),
      ];
    });
    try {
      const boxData = (yield boxes) as Float32Array;
      const scoreData = (yield scores) as Float32Array;
      return { boxes: boxData, scores: scoreData, counts, classes };
    } finally {
      tf.dispose([boxes, scores]);
    }
  } finally {
    for (const top of tops) if (top) tf.dispose([top.probabilities, top.deltas, top.priors]);
  }
}

/** The `nmsPre` rows with the best class probability (all rows when there are fewer). */
function topRows({ probabilities, deltas, priors }: LevelTop, nmsPre: number): LevelTop {
  if (probabilities.shape[0] <= nmsPre) return { probabilities, deltas, priors };
  const { indices } = tf.topk(tf.max(probabilities, 1), nmsPre);
  return {
    probabilities: tf.gather(probabilities, indices),
    deltas: tf.gather(deltas, indices),
    priors: tf.gather(priors, indices),
  };
}

/**
 * mmdetection's `multiclass_nms` on host arrays: every (box, class) pair scoring above
 * `scoreThreshold` enters a per-class NMS; the `maxPerImage` best survivors are kept.
 * `boxes` is `[N·4]` (one box per row, shared by its classes) or `[N·K·4]` (class-specific).
 */
export function multiclassNms(
  boxes: Float32Array,
  scores: Float32Array,
  numClasses: number,
  config: DetectionTestConfig = {},
): Detections {
  const { scoreThreshold, iouThreshold, maxPerImage } = { ...detectionTestDefaults, ...config };
  const rows = scores.length / numClasses;
  const classSpecific = boxes.length === rows * numClasses * 4;
  const keptBoxes: number[] = [];
  const keptScores: number[] = [];
  const keptLabels: number[] = [];
  for (let row = 0; row < rows; row++) {
    for (let k = 0; k < numClasses; k++) {
      const score = scores[row * numClasses + k]!;
      if (!(score > scoreThreshold)) continue;
      const offset = classSpecific ? (row * numClasses + k) * 4 : row * 4;
      keptBoxes.push(boxes[offset]!, boxes[offset + 1]!, boxes[offset + 2]!, boxes[offset + 3]!);
      keptScores.push(score);
      keptLabels.push(k);
    }
  }
  const keep = batchedNms(keptBoxes, keptScores, keptLabels, {
    iouThreshold,
    maxOutputSize: maxPerImage,
  });
  const out: Detections = {
    boxes: new Float32Array(keep.length * 4),
    scores: new Float32Array(keep.length),
    labels: new Int32Array(keep.length),
  };
  keep.forEach((index, position) => {
    out.boxes.set(keptBoxes.slice(index * 4, index * 4 + 4), position * 4);
    out.scores[position] = keptScores[index]!;
    out.labels[position] = keptLabels[index]!;
  });
  return out;
}

/** RetinaNet's inference (mmdetection `AnchorHead.get_bboxes` with sigmoid scores). */
export function denseDetections(
  outputs: readonly InferenceLevelOutput[],
  coder: BoxCoder,
  imageShapes: readonly ImageShape[],
  config: DetectionTestConfig = {},
): Detections[] {
  return readSync(denseDetectionSteps(outputs, coder, imageShapes, config));
}

/** `denseDetections` with awaited reads (webgpu, which has no synchronous readback). */
export function denseDetectionsAsync(
  outputs: readonly InferenceLevelOutput[],
  coder: BoxCoder,
  imageShapes: readonly ImageShape[],
  config: DetectionTestConfig = {},
): Promise<Detections[]> {
  return readAsync(denseDetectionSteps(outputs, coder, imageShapes, config));
}

function* denseDetectionSteps(
  outputs: readonly InferenceLevelOutput[],
  coder: BoxCoder,
  imageShapes: readonly ImageShape[],
  config: DetectionTestConfig,
): Reads<Detections[]> {
  checkImageShapes(imageShapes, 'predict (denseDetections)', batchOf(outputs[0]));
  const options = { ...detectionTestDefaults, ...config };
  const results: Detections[] = [];
  for (let image = 0; image < imageShapes.length; image++) {
    const { boxes, scores, classes } = yield* imageCandidates(
      outputs,
      image,
      coder,
      imageShapes[image]!,
      options.nmsPre,
    );
    results.push(multiclassNms(boxes, scores, classes, options));
  }
  return results;
}

/**
 * RPN proposals (mmdetection v2 `RPNHead._get_bboxes_single`): per level the `nmsPre` best
 * anchors by objectness, decoded and clipped; boxes with a side ≤ `minBoxSize` dropped; NMS
 * within each level (batched over level ids); the `maxPerImage` best kept.
 */
export function denseProposals(
  outputs: readonly InferenceLevelOutput[],
  coder: BoxCoder,
  imageShapes: readonly ImageShape[],
  config: ProposalConfig = {},
): Proposals[] {
  return readSync(denseProposalSteps(outputs, coder, imageShapes, config));
}

/** `denseProposals` with awaited reads (webgpu, which has no synchronous readback). */
export function denseProposalsAsync(
  outputs: readonly InferenceLevelOutput[],
  coder: BoxCoder,
  imageShapes: readonly ImageShape[],
  config: ProposalConfig = {},
): Promise<Proposals[]> {
  return readAsync(denseProposalSteps(outputs, coder, imageShapes, config));
}

function* denseProposalSteps(
  outputs: readonly InferenceLevelOutput[],
  coder: BoxCoder,
  imageShapes: readonly ImageShape[],
  config: ProposalConfig,
): Reads<Proposals[]> {
  checkImageShapes(imageShapes, 'proposals (denseProposals)', batchOf(outputs[0]));
  const options = { ...proposalDefaults, ...config };
  const results: Proposals[] = [];
  for (let image = 0; image < imageShapes.length; image++) {
    const boxes: number[] = [];
    const scores: number[] = [];
    const levelIds: number[] = [];
    const candidates = yield* imageCandidates(
      outputs,
      image,
      coder,
      imageShapes[image]!,
      options.nmsPre,
    );
    if (candidates.classes !== 1) {
      throw new Error(`denseProposals: RPN outputs must have 1 class, got ${candidates.classes}`);
    }
    let row = 0;
    candidates.counts.forEach((count, level) => {
      for (const end = row + count; row < end; row++) {
        const [x1, y1, x2, y2] = candidates.boxes.subarray(
          row * 4,
          row * 4 + 4,
        ) as unknown as number[];
        if (!(x2! - x1! > options.minBoxSize && y2! - y1! > options.minBoxSize)) continue;
        boxes.push(x1!, y1!, x2!, y2!);
        scores.push(candidates.scores[row]!);
        levelIds.push(level);
      }
    });
    const keep = batchedNms(boxes, scores, levelIds, {
      iouThreshold: options.iouThreshold,
      maxOutputSize: options.maxPerImage,
    });
    const out: Proposals = {
      boxes: new Float32Array(keep.length * 4),
      scores: new Float32Array(keep.length),
    };
    keep.forEach((index, position) => {
      out.boxes.set(boxes.slice(index * 4, index * 4 + 4), position * 4);
      out.scores[position] = scores[index]!;
    });
    results.push(out);
  }
  return results;
}
