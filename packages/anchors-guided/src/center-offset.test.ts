import { initBackend, ParameterStore, withInitializerSeed } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { GuidedAnchorFunction } from './guided-anchor-function';
import { guidedAnchors } from './guided-anchors';
import { locationTargets } from './location-targets';
import { ShapeTargetBuilder } from './shape-targets';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Centres (x, y) of `[..., 4]` xyxy boxes, row by row, to 1e-4 (float32 corners). */
function centres(boxes: tf.Tensor): number[][] {
  const rows = tf.tidy(() => tf.reshape(boxes, [-1, 4]).arraySync() as number[][]);
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return rows.map(([x1, y1, x2, y2]) => [
    round(((x1 as number) + (x2 as number)) / 2),
    round(((y1 as number) + (y2 as number)) / 2),
  ]);
}

// Location i of a stride-8 level is centred at (i + centerOffset)·8: 0 → i·s, 0.5 → (i + ½)·s.
describe.each([
  [0, [0, 8]],
  [0.5, [4, 12]],
])('anchor centres with centerOffset %s', (centerOffset, expectedX) => {
  it('guided anchors, shape-target squares and approximating anchors', () => {
    const shapePred = tf.zeros([1, 1, 2, 2]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const anchors = guidedAnchors(shapePred, 8, { squareScale: 4, centerOffset });
    expect(centres(anchors)).toEqual(expectedX.map((x) => [x, centerOffset * 8]));
    // Zero deltas: w = h = σ·s = 32 around the centre.
    expect(Array.from(anchors.dataSync()).slice(0, 4)).toEqual([
      (expectedX[0] as number) - 16,
      centerOffset * 8 - 16,
      (expectedX[0] as number) + 16,
      centerOffset * 8 + 16,
    ]);
    const builder = new ShapeTargetBuilder({ strides: [8], squareScale: 4, centerOffset });
    const squares = builder.squares([[1, 2]]);
    expect(centres(squares)).toEqual(centres(anchors));
    const approxes = tf.tidy(() => tf.concat(builder.approxGenerator.gridPriors([[1, 2]])));
    // Every one of the 9 approximating anchors of a location shares its square's centre.
    expect(centres(approxes)).toEqual(
      centres(squares).flatMap((c) => Array.from({ length: 9 }, () => c)),
    );
    tf.dispose([anchors, squares, approxes]);
    expect(tf.memory().numTensors).toBe(before);
    shapePred.dispose();
  });

  it('location targets: the positive cell is the one centred on the box', () => {
    // A 64-pixel box centred at x = y = 4 + 8·4 = 36: level 1 (stride 8) for octaveBaseScale 8.
    // Its centre region (σ1 = 0.2, 12.8 px) covers x/8 − offset ∈ [3.7, 5.3] − offset.
    const boxes = tf.tensor2d([[4, 4, 68, 68]]);
    const labels = locationTargets(
      [boxes],
      [
        [16, 16],
        [8, 8],
      ],
      {
        strides: [4, 8],
        centerOffset,
      },
    );
    const level = (labels[1] as tf.Tensor3D).arraySync()[0] as number[][];
    const positives = level.flatMap((row, y) =>
      row.flatMap((label, x) => (label === 1 ? [[x, y]] : [])),
    );
    // Both conventions centre the positives on the box: mean of (i + offset)·8 is 36. The
    // region ends x/8 − offset round to cells 4–5 for i·s and 3–5 for (i + ½)·s.
    const cells = centerOffset === 0 ? [4, 5] : [3, 4, 5];
    expect(positives).toEqual(cells.flatMap((y) => cells.map((x) => [x, y])));
    const meanX = positives.reduce((sum, [x]) => sum + (x as number), 0) / positives.length;
    expect((meanX + centerOffset) * 8).toBe(36);
    tf.dispose([boxes, ...labels]);
  });

  it('GuidedAnchorFunction passes it to its priors', () => {
    const fn = withInitializerSeed(
      7,
      () =>
        new GuidedAnchorFunction(
          {
            store: new ParameterStore(),
            inChannels: 4,
            numClasses: 2,
            clsName: 'retina_cls',
            regName: 'retina_reg',
            strides: [8],
            sharedTower: false,
            kernelSize: 3,
            priorProbability: 0.01,
            seed: 0,
          },
          { squareScale: 4, centerOffset },
        ),
    );
    const feature = tf.zeros([1, 1, 2, 4]) as tf.Tensor4D;
    const output = fn.apply({
      level: 0,
      clsFeature: feature,
      regFeature: feature,
      training: true,
      plan: undefined,
    });
    expect(centres(output.priors).map(([x]) => x)).toEqual(expectedX);
    tf.dispose([
      feature,
      output.clsScores,
      output.boxDeltas,
      output.priors,
      ...Object.values(output.extras ?? {}),
    ]);
  });
});
