import * as tf from '@tensorflow/tfjs-core';
import { unstackBoxes } from '../boxes/box-format';
import { assertBoxesLastAxis } from '../boxes/validate-boxes';
import type { BoxCoder, DecodeOptions } from '../types/box-coder';

type Quad = readonly [number, number, number, number];

export interface DeltaXYWHBoxCoderOptions {
  /** Subtracted from raw deltas before dividing by `stds` (mmdetection `target_means`). Default 0s. */
  means?: Quad;
  /** Raw deltas are divided by these (mmdetection `target_stds`). Default 1s. */
  stds?: Quad;
  /**
   * torchvision/detectron2 `weights` (wx, wy, ww, wh): raw deltas are multiplied by them,
   * i.e. `stds = 1 / weights`, computed in the same float32 order as torchvision's
   * `BoxCoder`. Give either `weights` or `means`/`stds`.
   */
  weights?: Quad;
  /**
   * Upper bound of decoded dw, dh before `exp` (detectron2's `scale_clamp`,
   * torchvision's `bbox_xform_clip`), so one wild delta cannot overflow. Default
   * log(1000 / 16); `Infinity` disables it. Like detectron2 and unlike mmdetection,
   * only the upper side is clamped.
   */
  clampLog?: number;
}

const defaultClampLog = Math.log(1000 / 16);

function checkQuad(value: Quad | undefined, field: string, positive: boolean): void {
  if (value === undefined) return;
  if (value.length !== 4 || !value.every((x) => Number.isFinite(x) && (!positive || x > 0))) {
    throw new Error(
      `DeltaXYWHBoxCoder: ${field} must be 4 finite${positive ? ' positive' : ''} numbers, got [${value.join(', ')}]`,
    );
  }
}

/**
 * The (dx, dy, dw, dh) box coder of R-CNN (Girshick et al. 2014, eq. 1–4), as
 * mmdetection's `DeltaXYWHBBoxCoder` / torchvision's `BoxCoder`:
 * `dx = (gx − px) / pw`, `dw = log(gw / pw)`, normalised by `means`/`stds`; areas and
 * widths without +1. `decode(p, encode(p, b)) = b` up to float32 rounding.
 */
export class DeltaXYWHBoxCoder implements BoxCoder {
  readonly encodeSize = 4;
  readonly means: Quad;
  readonly stds: Quad;
  readonly weights: Quad | null;
  readonly clampLog: number;

  constructor(options: DeltaXYWHBoxCoderOptions = {}) {
    checkQuad(options.means, 'means', false);
    checkQuad(options.stds, 'stds', true);
    checkQuad(options.weights, 'weights', true);
    if (options.weights && (options.means || options.stds)) {
      throw new Error('DeltaXYWHBoxCoder: give either weights or means/stds, not both');
    }
    const clampLog = options.clampLog ?? defaultClampLog;
    if (Number.isNaN(clampLog))
      throw new Error('DeltaXYWHBoxCoder: clampLog must be a number, got NaN');
    this.means = options.means ?? [0, 0, 0, 0];
    this.stds = options.stds ?? [1, 1, 1, 1];
    this.weights = options.weights ?? null;
    this.clampLog = clampLog;
  }

  /** `[..., 4]` deltas that take `priors` to `targets` (both xyxy, broadcasting). Differentiable in `targets`. */
  encode(priors: tf.Tensor, targets: tf.Tensor): tf.Tensor {
    assertBoxesLastAxis(priors, 'DeltaXYWHBoxCoder.encode', 'priors');
    assertBoxesLastAxis(targets, 'DeltaXYWHBoxCoder.encode', 'targets');
    return tf.tidy(() => {
      const [px1, py1, px2, py2] = unstackBoxes(priors);
      const [gx1, gy1, gx2, gy2] = unstackBoxes(targets);
      // torchvision encode_boxes: center = x1 + 0.5·w.
      const pw = tf.sub(px2, px1);
      const ph = tf.sub(py2, py1);
      const pcx = tf.add(px1, tf.mul(0.5, pw));
      const pcy = tf.add(py1, tf.mul(0.5, ph));
      const gw = tf.sub(gx2, gx1);
      const gh = tf.sub(gy2, gy1);
      const gcx = tf.add(gx1, tf.mul(0.5, gw));
      const gcy = tf.add(gy1, tf.mul(0.5, gh));
      const raw = [
        [tf.sub(gcx, pcx), pw],
        [tf.sub(gcy, pcy), ph],
      ] as const;
      let deltas: tf.Tensor[];
      if (this.weights) {
        const [wx, wy, ww, wh] = this.weights;
        deltas = [
          tf.div(tf.mul(wx, raw[0][0]), raw[0][1]),
          tf.div(tf.mul(wy, raw[1][0]), raw[1][1]),
          tf.mul(ww, tf.log(tf.div(gw, pw))),
          tf.mul(wh, tf.log(tf.div(gh, ph))),
        ];
      } else {
        const plain = [
          tf.div(raw[0][0], raw[0][1]),
          tf.div(raw[1][0], raw[1][1]),
          tf.log(tf.div(gw, pw)),
          tf.log(tf.div(gh, ph)),
        ];
        deltas = plain.map((d, i) => tf.div(tf.sub(d, this.means[i]!), this.stds[i]!));
      }
      return tf.stack(deltas, deltas[0]!.rank);
    });
  }

  /**
   * `[..., 4]` xyxy boxes from `priors` moved by `deltas` (broadcasting). dw, dh are
   * clamped above at `clampLog`; with `maxShape` the boxes are clipped to the image.
   * Differentiable in `deltas`.
   */
  decode(priors: tf.Tensor, deltas: tf.Tensor, options: DecodeOptions = {}): tf.Tensor {
    assertBoxesLastAxis(priors, 'DeltaXYWHBoxCoder.decode', 'priors');
    assertBoxesLastAxis(deltas, 'DeltaXYWHBoxCoder.decode', 'deltas');
    const { maxShape } = options;
    if (
      maxShape &&
      !(maxShape.length === 2 && maxShape.every((x) => Number.isFinite(x) && x >= 0))
    ) {
      throw new Error(
        `DeltaXYWHBoxCoder.decode: maxShape must be [height, width] ≥ 0, got [${maxShape.join(', ')}]`,
      );
    }
    return tf.tidy(() => {
      const [px1, py1, px2, py2] = unstackBoxes(priors);
      const raw = unstackBoxes(deltas);
      const d = this.weights
        ? raw.map((x, i) => tf.div(x, this.weights![i]!))
        : raw.map((x, i) => tf.add(tf.mul(x, this.stds[i]!), this.means[i]!));
      const pw = tf.sub(px2, px1);
      const ph = tf.sub(py2, py1);
      const pcx = tf.add(px1, tf.mul(0.5, pw));
      const pcy = tf.add(py1, tf.mul(0.5, ph));
      const dw = Number.isFinite(this.clampLog)
        ? tf.clipByValue(d[2]!, Number.NEGATIVE_INFINITY, this.clampLog)
        : d[2]!;
      const dh = Number.isFinite(this.clampLog)
        ? tf.clipByValue(d[3]!, Number.NEGATIVE_INFINITY, this.clampLog)
        : d[3]!;
      const cx = tf.add(tf.mul(d[0]!, pw), pcx);
      const cy = tf.add(tf.mul(d[1]!, ph), pcy);
      const halfW = tf.mul(0.5, tf.mul(tf.exp(dw), pw));
      const halfH = tf.mul(0.5, tf.mul(tf.exp(dh), ph));
      let x1 = tf.sub(cx, halfW);
      let y1 = tf.sub(cy, halfH);
      let x2 = tf.add(cx, halfW);
      let y2 = tf.add(cy, halfH);
      if (maxShape) {
        const [height, width] = maxShape;
        x1 = tf.clipByValue(x1, 0, width);
        x2 = tf.clipByValue(x2, 0, width);
        y1 = tf.clipByValue(y1, 0, height);
        y2 = tf.clipByValue(y2, 0, height);
      }
      return tf.stack([x1, y1, x2, y2], x1.rank);
    });
  }
}
