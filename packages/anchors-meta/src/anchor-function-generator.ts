import {
  Conv2d,
  type Initializer,
  normal,
  type ParameterStore,
  torchDefaultUniform,
  zeros,
} from '@det/core';
import * as tf from '@tensorflow/tfjs-core';

export interface AnchorFunctionGeneratorOptions {
  /** Scope of this generator's parameters, e.g. `store.scope('retina_cls')`. */
  store: ParameterStore;
  /** Channels C of the feature the anchor function reads (the tower output). */
  inChannels: number;
  /** Filters of ONE anchor function: K for classification (option B), 4 for regression. */
  outChannels: number;
  /** Kernel of the anchor function's conv: 3 as RetinaNet. */
  kernelSize?: number;
  /** Hidden neurons m of eq. 5. Default 128 (§3.2). */
  hiddenSize?: number;
  /** Eq. 6: add `W12 · r(x)` with r = global average pooling of the input feature. */
  dataDependent?: boolean;
  /** θ* filter init: RetinaNet's N(0, 0.01²). */
  weightInit?: Initializer;
  /** θ* bias init: RetinaNet's prior-probability bias for classification, zeros for regression. */
  biasInit?: Initializer;
  /** Init of W1 (and W12). Default PyTorch's Linear default, U(±1/√fanIn). */
  hiddenInit?: Initializer;
  /** Init of W2. Default N(0, 0.001²): the residual starts well below θ*'s spread. */
  residualInit?: Initializer;
}

/**
 * `hidden · W` with a gradient that avoids `tf.matMul`'s transpose flags, ~7× slower on wasm
 * than transposing first: `hidden` is small (A × m) and W's transpose costs one copy.
 */
const lowRankProduct = tf.customGrad(
  (
    ...args: (tf.Tensor | tf.GradSaveFunc)[]
  ): {
    value: tf.Tensor2D;
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => tf.Tensor[];
  } => {
    const [hidden, weight, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([hidden, weight]);
    return {
      value: tf.matMul(hidden, weight),
      gradFunc: (dy, saved) => {
        const [h, w] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.matMul(dy, tf.transpose(w)), tf.matMul(tf.transpose(h), dy)];
      },
    };
  },
) as (hidden: tf.Tensor2D, weight: tf.Tensor2D) => tf.Tensor2D;

/** Generated filters of A anchor functions for one input (or one image, data-dependent). */
export interface GeneratedFilters {
  /** `[k, k, C, A·O]`, channel `a·O + o` is anchor a, output o. */
  filter: tf.Tensor4D;
  /** `[A·O]`. */
  bias: tf.Tensor1D;
}

/**
 * MetaAnchor's anchor function generator G (eq. 4–6): θ_b = θ* + W2·σ(W1·b) (+ W12·r(x) inside
 * σ for the data-dependent variant), where θ_b = (filter, bias) of one anchor's k×k conv with O
 * outputs. W1, W2 (and W12) have no bias and no batch norm (§4); θ* keeps the names of a dense
 * head's final conv (`weight`, `bias`), the generator lives under `generator.*`.
 */
export class AnchorFunctionGenerator {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly hiddenSize: number;
  readonly dataDependent: boolean;
  /** θ*: `[k, k, C, O]` and `[O]`. */
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  /** `[2, m]`: W1 of eq. 5 (W11 of eq. 6). */
  readonly codeWeight: tf.Variable;
  /** `[C, m]`: W12 of eq. 6, only for the data-dependent variant. */
  readonly contextWeight: tf.Variable | undefined;
  /** `[m, k·k·C·O]`: the filter rows of W2, columns laid out as the HWIO filter. */
  readonly residualWeight: tf.Variable;
  /** `[m, O]`: the bias rows of W2 (kept apart so no column slice is needed). */
  readonly residualBias: tf.Variable;

  constructor(options: AnchorFunctionGeneratorOptions) {
    const { inChannels, outChannels } = options;
    const kernelSize = options.kernelSize ?? 3;
    const hiddenSize = options.hiddenSize ?? 128;
    for (const [field, value] of Object.entries({
      inChannels,
      outChannels,
      kernelSize,
      hiddenSize,
    })) {
      if (!(Number.isInteger(value) && value >= 1)) {
        throw new Error(`AnchorFunctionGenerator: ${field} must be an integer ≥ 1, got ${value}`);
      }
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernelSize;
    this.hiddenSize = hiddenSize;
    this.dataDependent = options.dataDependent ?? false;
    const { store } = options;
    this.weight = store.create(
      'weight',
      (options.weightInit ?? normal({ std: 0.01 }))([
        kernelSize,
        kernelSize,
        inChannels,
        outChannels,
      ]),
    );
    this.bias = store.create('bias', (options.biasInit ?? zeros)([outChannels]));
    const generator = store.scope('generator');
    this.codeWeight = generator.create(
      'w1',
      (options.hiddenInit ?? torchDefaultUniform({ fanIn: 2 }))([2, hiddenSize]),
    );
    this.contextWeight = this.dataDependent
      ? generator.create(
          'w12',
          (options.hiddenInit ?? torchDefaultUniform({ fanIn: inChannels }))([
            inChannels,
            hiddenSize,
          ]),
        )
      : undefined;
    const residualInit = options.residualInit ?? normal({ std: 0.001 });
    this.residualWeight = generator.create('w2', residualInit([hiddenSize, this.filterSize]));
    this.residualBias = generator.create('w2_bias', residualInit([hiddenSize, outChannels]));
  }

  /** Size of θ for one anchor: k·k·C·O filter entries plus O biases. */
  get thetaSize(): number {
    return this.filterSize + this.outChannels;
  }

  private get filterSize(): number {
    return this.kernelSize * this.kernelSize * this.inChannels * this.outChannels;
  }

  private checkCodes(codes: tf.Tensor2D): void {
    if (codes.rank !== 2 || codes.shape[1] !== 2) {
      throw new Error(
        `AnchorFunctionGenerator: anchor codes must be [A, 2], got [${codes.shape.join(', ')}]`,
      );
    }
  }

  /** σ(W1·b) (eq. 5), or σ(W11·b + W12·r) per image (eq. 6): `[A, m]` or `[B·A, m]`. */
  hidden(codes: tf.Tensor2D, context?: tf.Tensor2D): tf.Tensor2D {
    this.checkCodes(codes);
    return tf.tidy(() => {
      const fromCodes = tf.matMul(codes, this.codeWeight as tf.Tensor2D);
      if (!this.contextWeight) return tf.relu(fromCodes) as tf.Tensor2D;
      if (context?.rank !== 2 || context.shape[1] !== this.inChannels) {
        throw new Error(
          `AnchorFunctionGenerator: the data-dependent variant needs r(x) as [B, ${this.inChannels}], got ${context ? `[${context.shape.join(', ')}]` : 'none'}`,
        );
      }
      const [batch] = context.shape;
      const anchors = codes.shape[0];
      const fromContext = tf.matMul(context, this.contextWeight as tf.Tensor2D);
      const summed = tf.add(
        tf.reshape(fromCodes, [1, anchors, this.hiddenSize]),
        tf.reshape(fromContext, [batch, 1, this.hiddenSize]),
      );
      return tf.reshape(tf.relu(summed), [batch * anchors, this.hiddenSize]) as tf.Tensor2D;
    });
  }

  /**
   * θ_b for every row of `hidden` (eq. 4), grouped `groups` at a time into concatenated
   * filters: the A filter sets of one image become ONE conv's `[k, k, C, A·O]` filter.
   */
  private assemble(hidden: tf.Tensor2D, groups: number): GeneratedFilters[] {
    const anchors = hidden.shape[0] / groups;
    const k = this.kernelSize;
    const taps = k * k * this.inChannels;
    const out = this.outChannels;
    const product = lowRankProduct(hidden, this.residualWeight as tf.Tensor2D);
    const biasResidual = lowRankProduct(hidden, this.residualBias as tf.Tensor2D);
    // (group, anchor, tap, output) → (group, tap, anchor, output): an HWIO filter whose
    // output channel a·O + o is anchor a, output o (the dense head's layout). One transpose:
    // per-anchor split + concat costs ~50× more on wasm.
    const residual =
      anchors === 1
        ? tf.reshape(product, [groups, taps, 1, out])
        : tf.transpose(tf.reshape(product, [groups, anchors, taps, out]), [0, 2, 1, 3]);
    const filters = tf.add(tf.reshape(this.weight, [1, taps, 1, out]), residual);
    const biases = tf.reshape(tf.add(this.bias, biasResidual), [groups, anchors * out]);
    return Array.from({ length: groups }, (_, group) => {
      const filter =
        groups === 1 ? filters : tf.slice(filters, [group, 0, 0, 0], [1, taps, anchors, out]);
      const bias = groups === 1 ? biases : tf.slice(biases, [group, 0], [1, anchors * out]);
      return {
        filter: tf.reshape(filter, [k, k, this.inChannels, anchors * out]) as tf.Tensor4D,
        bias: tf.reshape(bias, [anchors * out]) as tf.Tensor1D,
      };
    });
  }

  /**
   * The filters of the anchor functions for `codes` (`[A, 2]`): one set for the
   * data-independent variant, one per image (from `context` = r(x), `[B, C]`) otherwise.
   */
  generate(codes: tf.Tensor2D, context?: tf.Tensor2D): GeneratedFilters[] {
    return tf.tidy((): tf.TensorContainer => {
      const hidden = this.hidden(codes, context);
      const groups = this.dataDependent ? (context as tf.Tensor2D).shape[0] : 1;
      if (codes.shape[0] === 0) {
        const k = this.kernelSize;
        return Array.from(
          { length: groups },
          (): tf.TensorContainer => ({
            filter: tf.zeros([k, k, this.inChannels, 0]) as tf.Tensor4D,
            bias: tf.zeros([0]) as tf.Tensor1D,
          }),
        );
      }
      return this.assemble(hidden, groups) as unknown as tf.TensorContainer;
    }) as unknown as GeneratedFilters[];
  }

  /**
   * F(x; θ_b) for all A anchors at once: `[B, H, W, A·O]`, ONE convolution with the generated
   * filters concatenated (per image for the data-dependent variant, whose filters differ).
   */
  apply(feature: tf.Tensor4D, codes: tf.Tensor2D): tf.Tensor4D {
    if (feature.rank !== 4 || feature.shape[3] !== this.inChannels) {
      throw new Error(
        `AnchorFunctionGenerator.apply: feature must be [B, H, W, ${this.inChannels}], got [${feature.shape.join(', ')}]`,
      );
    }
    this.checkCodes(codes);
    return tf.tidy(() => {
      const [batch, height, width] = feature.shape;
      const padding = (this.kernelSize - 1) / 2;
      if (codes.shape[0] === 0) return tf.zeros([batch, height, width, 0]) as tf.Tensor4D;
      if (!this.dataDependent) {
        const [{ filter, bias }] = this.generate(codes) as [GeneratedFilters];
        return Conv2d.run(feature, filter, bias, { padding });
      }
      // r(x): global average pooling of the input feature (eq. 6, §3.1).
      const context = tf.mean(feature, [1, 2]) as tf.Tensor2D;
      const perImage = this.generate(codes, context);
      const outputs = perImage.map(({ filter, bias }, image) =>
        Conv2d.run(
          tf.slice(feature, [image, 0, 0, 0], [1, height, width, this.inChannels]),
          filter,
          bias,
          { padding },
        ),
      );
      return (outputs.length === 1 ? outputs[0]! : tf.concat(outputs, 0)) as tf.Tensor4D;
    });
  }

  /**
   * F(x; θ_b) with a different anchor b at every location (`codes` `[B, H, W, 2]`, e.g. Guided
   * Anchoring's predicted shapes), without a filter per location: since
   * θ_b = θ* + Σ_j h_j(b)·W2_j with h = relu(W1·b) (eq. 4–5; eq. 6 adds W12·r(x) inside the
   * relu), F(x; θ_b) = conv(x, θ*) + Σ_j h_j·conv(x, W2_j). One conv with (1 + m)·O outputs —
   * θ* and the m rows of W2 as filters — is contracted with (1, h) at each location, plus the
   * bias θ*_bias + h·W2_bias. Cost: (1 + m)× the multiply-adds of the plain O-output conv
   * (m = 128, O = 4: 516 vs 4 outputs per location) and a `[B, H, W, (1 + m)·O]` activation;
   * per-location filters would instead cost `H·W·k²·C·O` parameters per image. Returns
   * `[B, H, W, O]`.
   */
  applyPerLocation(feature: tf.Tensor4D, codes: tf.Tensor4D): tf.Tensor4D {
    const [batch, height, width, channels] = feature.shape;
    if (feature.rank !== 4 || channels !== this.inChannels) {
      throw new Error(
        `AnchorFunctionGenerator.applyPerLocation: feature must be [B, H, W, ${this.inChannels}], got [${feature.shape.join(', ')}]`,
      );
    }
    if (codes.shape.join() !== [batch, height, width, 2].join()) {
      throw new Error(
        `AnchorFunctionGenerator.applyPerLocation: codes must be [${[batch, height, width, 2].join(', ')}], got [${codes.shape.join(', ')}]`,
      );
    }
    return tf.tidy(() => {
      const m = this.hiddenSize;
      const k = this.kernelSize;
      const locations = batch * height * width;
      let preActivation = tf.reshape(
        tf.matMul(tf.reshape(codes, [locations, 2]), this.codeWeight as tf.Tensor2D),
        [batch, height * width, m],
      );
      if (this.contextWeight) {
        const context = tf.mean(feature, [1, 2]) as tf.Tensor2D;
        const fromContext = tf.matMul(context, this.contextWeight as tf.Tensor2D);
        preActivation = tf.add(preActivation, tf.reshape(fromContext, [batch, 1, m]));
      }
      const hidden = tf.reshape(tf.relu(preActivation), [locations, m]) as tf.Tensor2D;
      const filter = tf.reshape(this.stackedFilter(), [
        k,
        k,
        this.inChannels,
        (1 + m) * this.outChannels,
      ]) as tf.Tensor4D;
      const stacked = Conv2d.run(feature, filter, undefined, { padding: (k - 1) / 2 });
      return tf.reshape(this.contract(tf.reshape(stacked, [locations, -1]), hidden), [
        batch,
        height,
        width,
        this.outChannels,
      ]) as tf.Tensor4D;
    });
  }

  /**
   * `applyPerLocation` at N locations given by their im2col rows (`columns` `[N, k·k·C]`,
   * tap-major then channel) and codes `[N, 2]` (sparse inference of `meta-guided`): one
   * `[N, k²C] × [k²C, (1 + m)·O]` matMul and the same contraction. Returns `[N, O]`. Eq. 6 reads
   * the whole feature map (r(x)), which N rows do not hold: a data-dependent generator throws.
   */
  applyPerRow(columns: tf.Tensor2D, codes: tf.Tensor2D): tf.Tensor2D {
    const taps = this.kernelSize * this.kernelSize * this.inChannels;
    const count = columns.shape[0];
    if (this.contextWeight) {
      throw new Error(
        'AnchorFunctionGenerator.applyPerRow: a data-dependent generator (eq. 6) needs the whole feature map; use applyPerLocation',
      );
    }
    if (columns.shape[1] !== taps || codes.shape.join() !== [count, 2].join()) {
      throw new Error(
        `AnchorFunctionGenerator.applyPerRow: columns must be [N, ${taps}] and codes [N, 2], got [${columns.shape.join(', ')}] and [${codes.shape.join(', ')}]`,
      );
    }
    return tf.tidy(() => {
      const hidden = tf.relu(tf.matMul(codes, this.codeWeight as tf.Tensor2D)) as tf.Tensor2D;
      return this.contract(tf.matMul(columns, this.stackedFilter()), hidden);
    });
  }

  /** θ* and the m rows of W2 as one `[k²C, (1 + m)·O]` filter: column j·O + o is θ* (j = 0) or W2_{j-1}. */
  private stackedFilter(): tf.Tensor2D {
    const taps = this.kernelSize * this.kernelSize * this.inChannels;
    const m = this.hiddenSize;
    const out = this.outChannels;
    const residual = tf.reshape(
      tf.transpose(tf.reshape(this.residualWeight, [m, taps, out]), [1, 0, 2]),
      [taps, m * out],
    );
    return tf.concat([tf.reshape(this.weight, [taps, out]), residual], 1) as tf.Tensor2D;
  }

  /** `[L, (1 + m)·O]` stacked outputs contracted with (1, h) `[L, m]`, plus θ*_bias + h·W2_bias → `[L, O]`. */
  private contract(stacked: tf.Tensor, hidden: tf.Tensor2D): tf.Tensor2D {
    const locations = hidden.shape[0];
    const m = this.hiddenSize;
    const out = this.outChannels;
    const coefficients = tf.concat([tf.ones([locations, 1]), hidden], 1);
    const contracted = tf.sum(
      tf.mul(
        tf.reshape(stacked, [locations, 1 + m, out]),
        tf.reshape(coefficients, [locations, 1 + m, 1]),
      ),
      1,
    );
    return tf.add(
      contracted,
      tf.add(this.bias, tf.matMul(hidden, this.residualBias as tf.Tensor2D)),
    ) as tf.Tensor2D;
  }
}
