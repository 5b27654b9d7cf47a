import { DeltaXYWHBoxCoder, initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnchorLevelOutput, CompactLevelOutput } from './anchor-function';
import { disposeLevelOutputs } from './anchor-head';
import { denseDetections, denseProposals } from './post-process';

const coder = new DeltaXYWHBoxCoder({ means: [0, 0, 0, 0], stds: [1, 1, 1, 1] });

/** Two images, per-image priors `[2, 3, 4]`, `evaluated` `[2, 3]` as Guided Anchoring reports it. */
function guidedLevel(): AnchorLevelOutput {
  return {
    // Logit 2 everywhere: every row would pass the score threshold if it were evaluated.
    clsScores: tf.fill([2, 3, 1], 2) as tf.Tensor3D,
    boxDeltas: tf.zeros([2, 3, 4]) as tf.Tensor3D,
    priors: tf.tensor3d([
      [
        [0, 0, 10, 10],
        [20, 20, 40, 40],
        [5, 30, 25, 60],
      ],
      [
        [1, 1, 11, 11],
        [30, 0, 60, 20],
        [40, 40, 60, 60],
      ],
    ]),
    evaluated: tf.tensor2d(
      [
        [true, false, true],
        [false, true, false],
      ],
      [2, 3],
      'bool',
    ),
  };
}

function dispose(output: AnchorLevelOutput): void {
  tf.dispose([output.clsScores, output.boxDeltas, output.priors, output.evaluated!]);
}

describe('post-processing with an `evaluated` mask (batch > 1)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('proposals keep only the evaluated rows of each image', () => {
    const output = guidedLevel();
    const before = tf.memory().numTensors;
    const [first, second] = denseProposals([output], coder, [
      [64, 64],
      [64, 64],
    ]);
    expect(tf.memory().numTensors).toBe(before);
    const sigmoid2 = 1 / (1 + Math.exp(-2));
    // Only rows with a nonzero score are compared here; the next test checks nothing else comes out.
    const kept = (p: { boxes: Float32Array; scores: Float32Array }) =>
      Array.from({ length: p.scores.length }, (_, i) => ({
        box: Array.from(p.boxes.subarray(i * 4, i * 4 + 4)),
        score: p.scores[i]!,
      })).filter((r) => r.score > 0);
    expect(kept(first!).map((r) => r.box)).toEqual([
      [0, 0, 10, 10],
      [5, 30, 25, 60],
    ]);
    expect(kept(first!).every((r) => Math.abs(r.score - sigmoid2) < 1e-6)).toBe(true);
    expect(kept(second!).map((r) => r.box)).toEqual([[30, 0, 60, 20]]);
    dispose(output);
  });

  it('εL removes locations: no proposal comes from an unevaluated row, even below maxPerImage', () => {
    const output = guidedLevel();
    const proposals = denseProposals([output], coder, [
      [64, 64],
      [64, 64],
    ]);
    // Image 0 evaluates rows 0 and 2, image 1 row 1: 2 and 1 proposals, all scored σ(2).
    expect(proposals.map((p) => p.scores.length)).toEqual([2, 1]);
    expect(Array.from(proposals[1]!.boxes)).toEqual([30, 0, 60, 20]);
    tf.dispose(output.evaluated!);
    output.evaluated = tf.zeros([2, 3], 'bool') as tf.Tensor2D;
    const none = denseProposals([output], coder, [
      [64, 64],
      [64, 64],
    ]);
    expect(none.map((p) => p.scores.length)).toEqual([0, 0]);
    dispose(output);
  });

  it('detections of image b use image b’s mask and priors', () => {
    const output = guidedLevel();
    const before = tf.memory().numTensors;
    const [first, second] = denseDetections([output], coder, [
      [64, 64],
      [64, 64],
    ]);
    expect(tf.memory().numTensors).toBe(before);
    expect(first!.scores.length).toBe(2);
    expect(Array.from(second!.boxes)).toEqual([30, 0, 60, 20]);
    expect(Array.from(second!.labels)).toEqual([0]);
    dispose(output);
  });

  it('an all-false mask gives no detections', () => {
    const output = guidedLevel();
    tf.dispose(output.evaluated!);
    output.evaluated = tf.zeros([2, 3], 'bool') as tf.Tensor2D;
    const detections = denseDetections([output], coder, [
      [64, 64],
      [64, 64],
    ]);
    expect(detections.map((d) => d.scores.length)).toEqual([0, 0]);
    dispose(output);
  });

  it('a compact level (only the evaluated rows) gives what the masked dense level gives', () => {
    const output = guidedLevel();
    // Image 0's evaluated rows 0 and 2, image 1's row 1, with distinct scores and deltas.
    const compact: CompactLevelOutput = {
      clsScores: tf.tensor2d([[2], [1], [3]]),
      boxDeltas: tf.tensor2d([
        [0, 0, 0, 0],
        [0.1, 0, 0, 0],
        [0, 0, 0.2, 0],
      ]),
      priors: tf.tensor2d([
        [0, 0, 10, 10],
        [5, 30, 25, 60],
        [30, 0, 60, 20],
      ]),
      rowsPerImage: [2, 1],
    };
    tf.dispose([output.clsScores, output.boxDeltas]);
    output.clsScores = tf.tensor3d([
      [[2], [9], [1]],
      [[9], [3], [9]],
    ]);
    output.boxDeltas = tf.tensor3d([
      [
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [0.1, 0, 0, 0],
      ],
      [
        [0, 0, 0, 0],
        [0, 0, 0.2, 0],
        [0, 0, 0, 0],
      ],
    ]);
    const shapes = [
      [64, 64],
      [64, 64],
    ] as const;
    const before = tf.memory().numTensors;
    const sparse = denseDetections([compact], coder, shapes);
    const dense = denseDetections([output], coder, shapes);
    const sparseProposals = denseProposals([compact], coder, shapes, { nmsPre: 1 });
    const denseProposalsOut = denseProposals([output], coder, shapes, { nmsPre: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(sparse).toEqual(dense);
    expect(sparse.map((d) => d.scores.length)).toEqual([2, 1]);
    expect(Array.from(sparse[1]!.boxes)).toEqual(Array.from(dense[1]!.boxes));
    // nmsPre 1: the best-scoring evaluated row of each image.
    expect(sparseProposals).toEqual(denseProposalsOut);
    expect(sparseProposals[0]!.scores[0]).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    // An image with no evaluated row yields nothing (and needs no device work).
    const empty: CompactLevelOutput = {
      clsScores: tf.tensor2d([[2]]),
      boxDeltas: tf.zeros([1, 4]) as tf.Tensor2D,
      priors: tf.tensor2d([[0, 0, 10, 10]]),
      rowsPerImage: [0, 1],
    };
    expect(denseDetections([empty], coder, shapes).map((d) => d.scores.length)).toEqual([0, 1]);
    disposeLevelOutputs([compact, empty, output]);
    expect(() => denseDetections([empty], coder, [[64, 64]])).toThrow();
  });

  it('decodes all levels of an image at once: per-level NMS ids, shared priors left intact', () => {
    // Two levels with shared [N, 4] priors (a plain dense head), no mask, fewer rows than nmsPre.
    const level = (priors: number[][], logits: number[]): AnchorLevelOutput => ({
      clsScores: tf.tensor3d([logits.map((l) => [l]), logits.map((l) => [l - 1])]),
      boxDeltas: tf.zeros([2, priors.length, 4]) as tf.Tensor3D,
      priors: tf.tensor2d(priors),
    });
    const outputs = [
      level(
        [
          [0, 0, 10, 10],
          [0, 0, 10, 10],
          [40, 40, 80, 80],
        ],
        [3, 2, 1],
      ),
      level([[0, 0, 10, 10]], [0]),
    ];
    const shapes = [
      [64, 64],
      [64, 48],
    ] as const;
    const before = tf.memory().numTensors;
    const proposals = denseProposals(outputs, coder, shapes);
    const detections = denseDetections(outputs, coder, shapes, { scoreThreshold: 0 });
    expect(tf.memory().numTensors).toBe(before);
    const sigmoid = (x: number) => Math.fround(1 / (1 + Math.exp(-x)));
    // NMS within a level: level 0's duplicate goes, level 1's equal box stays; the last box of
    // level 0 is clipped to each image.
    expect(Array.from(proposals[0]!.boxes)).toEqual([0, 0, 10, 10, 40, 40, 64, 64, 0, 0, 10, 10]);
    expect(Array.from(proposals[0]!.scores)).toEqual([sigmoid(3), sigmoid(1), sigmoid(0)]);
    expect(Array.from(proposals[1]!.boxes)).toEqual([0, 0, 10, 10, 40, 40, 48, 64, 0, 0, 10, 10]);
    expect(Array.from(proposals[1]!.scores)).toEqual([sigmoid(2), sigmoid(0), sigmoid(-1)]);
    // nmsPre 1: the best row of each level.
    const top = denseProposals(outputs, coder, shapes, { nmsPre: 1 });
    expect(top.map((p) => Array.from(p.scores))).toEqual([
      [sigmoid(3), sigmoid(0)],
      [sigmoid(2), sigmoid(-1)],
    ]);
    // Detections: one class-wise NMS over both levels (IoU 0.5 removes every copy of the box).
    expect(Array.from(detections[0]!.boxes)).toEqual([0, 0, 10, 10, 40, 40, 64, 64]);
    // The levels' shared priors are still there for the next call.
    expect(outputs.every((o) => !o.priors.isDisposed)).toBe(true);
    expect(denseProposals(outputs, coder, shapes)).toEqual(proposals);
    disposeLevelOutputs(outputs);
  });
});
