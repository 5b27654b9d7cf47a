import {
  AnchorGenerator,
  disposeAssignResult,
  disposeSamplingResult,
  RandomSampler,
  type Reads,
  readAsync,
  readSync,
  type Sampler,
  type Size2D,
  untaped,
} from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { ApproxMaxIoUAssigner } from './approx-max-iou-assigner';

export interface ShapeTargetOptions {
  /** Stride of each level in input pixels, finest first. */
  strides: readonly number[];
  /** Scale of the approximating anchors' first octave (mmdetection `octave_base_scale`). Default 8. */
  octaveBaseScale?: number;
  /** Approximating scales per octave (GA §3.2: 3). Default 3. */
  scalesPerOctave?: number;
  /** Approximating aspect ratios h/w (GA §3.2: 0.5, 1, 2). Default [0.5, 1, 2]. */
  ratios?: readonly number[];
  /** σ of `w = σ·s·e^dw`: the side of the square anchor whose centre each guided anchor keeps (GA-RPN 8, GA-RetinaNet 4). Default 8. */
  squareScale?: number;
  /**
   * Where a location's anchors are centred within its cell, as a fraction of the stride: 0 puts
   * the centre of location i at i·s (mmdetection v2 `center_offset=0`, the GA configs), 0.5 at
   * (i + ½)·s (the cell's middle). Squares and approximating anchors share it. Default 0.
   */
  centerOffset?: number;
  /** Assigner over the approximated vIoU. Default GA-RPN's: positive ≥ 0.7, negative < 0.3, low-quality ≥ 0.3. */
  assigner?: ApproxMaxIoUAssigner;
  /** Sampler of the shape branch's training locations. Default `RandomSampler({ num: 256, posFraction: 0.5 })`. */
  sampler?: Sampler;
}

/** Shape-branch targets of one batch (GA §3.2), all levels concatenated in (level, H, W) order. */
export interface ShapeTargets {
  /** `[N, 4]` xyxy square anchors of all levels; the guided anchors keep their centres. */
  squares: tf.Tensor2D;
  /** `[B, N, 4]` xyxy gt box each sampled positive learns the shape of (zeros elsewhere). */
  boxTargets: tf.Tensor3D;
  /** `[B, N]` float32 1 at sampled positive locations, 0 elsewhere. */
  weights: tf.Tensor2D;
  /** Sampled positives / negatives over the batch: mmdetection divides the shape loss by their sum. */
  numPositives: number;
  numNegatives: number;
}

/** Frees a `ShapeTargets`' tensors. */
export function disposeShapeTargets(targets: ShapeTargets): void {
  tf.dispose([targets.squares, targets.boxTargets, targets.weights]);
}

/**
 * Builds shape-branch targets (GA §3.2, mmdetection `ga_shape_target`): per level, 9
 * approximating anchors (`scalesPerOctave` scales × 3 ratios) and one square per location;
 * the `ApproxMaxIoUAssigner` labels each location by its best approximated IoU with each gt;
 * a sampler picks the positives whose w/h are trained towards their gt. No gradient.
 */
export class ShapeTargetBuilder {
  readonly approxGenerator: AnchorGenerator;
  readonly squareGenerator: AnchorGenerator;
  readonly assigner: ApproxMaxIoUAssigner;
  readonly sampler: Sampler;
  readonly strides: readonly number[];

  constructor(options: ShapeTargetOptions) {
    const strides = options?.strides;
    if (!Array.isArray(strides) || strides.length === 0) {
      throw new Error(
        `ShapeTargetBuilder: options.strides must be a non-empty list, got ${JSON.stringify(strides)}`,
      );
    }
    this.strides = strides;
    this.approxGenerator = new AnchorGenerator({
      strides,
      ratios: options.ratios ?? [0.5, 1, 2],
      octaveBaseScale: options.octaveBaseScale ?? 8,
      scalesPerOctave: options.scalesPerOctave ?? 3,
      centerOffset: options.centerOffset ?? 0,
    });
    this.squareGenerator = new AnchorGenerator({
      strides,
      ratios: [1],
      scales: [options.squareScale ?? 8],
      centerOffset: options.centerOffset ?? 0,
    });
    // The builder makes the approximating anchors, so their count per location is its own:
    // scalesPerOctave × ratios (3, 9 or 15 in GA §4.3), whatever the given assigner assumed.
    const approxesPerLocation = this.approxGenerator.numBasePriors[0] as number;
    this.assigner = (
      options.assigner ??
      new ApproxMaxIoUAssigner({ posIouThreshold: 0.7, negIouThreshold: 0.3, minPosIou: 0.3 })
    ).withApproxesPerLocation(approxesPerLocation);
    this.sampler = options.sampler ?? new RandomSampler({ num: 256, posFraction: 0.5 });
  }

  /**
   * Squares and approximating anchors of the last feature-map sizes, as host arrays: a training
   * run sees one input size, and building them is ~50 kernel launches per batch. Arrays, not
   * tensors, so the builder holds no tensor memory between calls.
   */
  private priorCache: { key: string; squares: Float32Array; approxes: Float32Array } | null = null;

  private *priors(featmapSizes: readonly Size2D[]): Reads<{
    squares: Float32Array;
    approxes: Float32Array;
  }> {
    const key = JSON.stringify(featmapSizes);
    if (this.priorCache?.key !== key) {
      const read = function* (generator: AnchorGenerator): Reads<Float32Array> {
        const perLevel = generator.gridPriors(featmapSizes);
        const all = tf.concat(perLevel);
        tf.dispose(perLevel);
        try {
          return (yield all) as Float32Array;
        } finally {
          all.dispose();
        }
      };
      const squares = yield* read(this.squareGenerator);
      const approxes = yield* read(this.approxGenerator);
      this.priorCache = { key, squares, approxes };
    }
    return this.priorCache;
  }

  /** Square anchors `[N, 4]` of all levels, (level, H, W) order. */
  squares(featmapSizes: readonly Size2D[]): tf.Tensor2D {
    const { squares } = readSync(this.priors(featmapSizes));
    return tf.tensor2d(squares, [squares.length / 4, 4]);
  }

  /** Targets, so nothing here is recorded on a gradient tape (`untaped`). */
  build(
    gtBoxes: readonly tf.Tensor2D[],
    featmapSizes: readonly Size2D[],
    gtIgnoreBoxes?: readonly (tf.Tensor2D | undefined)[],
  ): ShapeTargets {
    return untaped(() => readSync(this.buildSteps(gtBoxes, featmapSizes, gtIgnoreBoxes)));
  }

  /**
   * `build` with awaited reads, for a backend without synchronous readback (webgpu). The
   * approximated IoU is computed on the host from `gtBoxes`' values: await each gt tensor's
   * `data()` first (tfjs-backend-webgpu then keeps the values on the host).
   */
  buildAsync(
    gtBoxes: readonly tf.Tensor2D[],
    featmapSizes: readonly Size2D[],
    gtIgnoreBoxes?: readonly (tf.Tensor2D | undefined)[],
  ): Promise<ShapeTargets> {
    return readAsync(this.buildSteps(gtBoxes, featmapSizes, gtIgnoreBoxes));
  }

  private *buildSteps(
    gtBoxes: readonly tf.Tensor2D[],
    featmapSizes: readonly Size2D[],
    gtIgnoreBoxes?: readonly (tf.Tensor2D | undefined)[],
  ): Reads<ShapeTargets> {
    if (featmapSizes.length !== this.strides.length) {
      throw new Error(
        `ShapeTargetBuilder.build: ${featmapSizes.length} featmapSizes for ${this.strides.length} strides`,
      );
    }
    const priors = yield* this.priors(featmapSizes);
    const squares = tf.tensor2d(priors.squares, [priors.squares.length / 4, 4]);
    const approxValues = priors.approxes;
    const approxes = tf.tensor2d(approxValues, [approxValues.length / 4, 4]);
    const numLocations = squares.shape[0];
    let numPositives = 0;
    let numNegatives = 0;
    const boxTargets: tf.Tensor2D[] = [];
    const weights: tf.Tensor1D[] = [];
    for (const [image, boxes] of gtBoxes.entries()) {
      if (boxes.rank !== 2 || boxes.shape[1] !== 4) {
        throw new Error(
          `ShapeTargetBuilder.build: gtBoxes[${image}] must be [G, 4], got [${boxes.shape.join(', ')}]`,
        );
      }
      const ignore = gtIgnoreBoxes?.[image];
      const assignment = this.assigner.assign(
        approxes,
        squares,
        boxes,
        ignore ? { gtIgnoreBoxes: ignore } : {},
      );
      const sampled = this.sampler.sampleSteps
        ? yield* this.sampler.sampleSteps(assignment, squares, boxes)
        : this.sampler.sample(assignment, squares, boxes);
      const numPos = sampled.posIndices.shape[0];
      numPositives += numPos;
      numNegatives += sampled.negIndices.shape[0];
      const [target, weight] = tf.tidy(() => {
        if (numPos === 0) return [tf.zeros([numLocations, 4]), tf.zeros([numLocations])];
        const indices = tf.reshape(sampled.posIndices, [-1, 1]);
        const w = tf.scatterND(indices, tf.ones([numPos]), [numLocations]);
        const t = tf.scatterND(indices, tf.gather(boxes, sampled.posGtIndices), [numLocations, 4]);
        return [t, w];
      });
      boxTargets.push(target as tf.Tensor2D);
      weights.push(weight as tf.Tensor1D);
      disposeAssignResult(assignment);
      disposeSamplingResult(sampled);
    }
    approxes.dispose();
    const out: ShapeTargets = {
      squares,
      boxTargets: (gtBoxes.length
        ? tf.stack(boxTargets)
        : tf.zeros([0, numLocations, 4])) as tf.Tensor3D,
      weights: (gtBoxes.length ? tf.stack(weights) : tf.zeros([0, numLocations])) as tf.Tensor2D,
      numPositives,
      numNegatives,
    };
    tf.dispose([...boxTargets, ...weights]);
    return out;
  }
}
