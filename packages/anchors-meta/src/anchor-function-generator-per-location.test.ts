import { Conv2d, initBackend, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnchorFunctionGenerator } from './anchor-function-generator';

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/**
 * The low-rank per-location form against the definition: at each location, the conv with
 * the filters θ_b materialised from that location's own code (`generate`), read there.
 */
function materialised(
  generator: AnchorFunctionGenerator,
  feature: tf.Tensor4D,
  codes: tf.Tensor4D,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, height, width] = feature.shape;
    const codeValues = codes.arraySync();
    const rows: tf.Tensor[] = [];
    for (let image = 0; image < batch; image++) {
      const input = tf.slice(feature, [image, 0, 0, 0], [1, height, width, -1]) as tf.Tensor4D;
      const context = generator.dataDependent ? (tf.mean(input, [1, 2]) as tf.Tensor2D) : undefined;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const code = tf.tensor2d([codeValues[image]![y]![x]!]);
          const [{ filter, bias }] = generator.generate(code, context) as [
            { filter: tf.Tensor4D; bias: tf.Tensor1D },
          ];
          const out = Conv2d.run(input, filter, bias, { padding: (generator.kernelSize - 1) / 2 });
          rows.push(tf.slice(out, [0, y, x, 0], [1, 1, 1, -1]));
        }
      }
    }
    return tf.reshape(tf.concat(rows, 0), [batch, height, width, -1]) as tf.Tensor4D;
  });
}

describe('AnchorFunctionGenerator.applyPerLocation (meta-guided, low-rank form)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  for (const dataDependent of [false, true]) {
    it(`equals per-location generated filters${dataDependent ? ' (eq. 6)' : ''}; row-wise at kept locations`, () => {
      const store = new ParameterStore();
      const generator = new AnchorFunctionGenerator({
        store: store.scope('retina_reg'),
        inChannels: 3,
        outChannels: 4,
        hiddenSize: 5,
        dataDependent,
        residualInit: (shape) => tf.randomNormal(shape, 0, 0.2, 'float32', 9),
      });
      const feature = tf.randomNormal([2, 4, 3, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const codes = tf.randomUniform([2, 4, 3, 2], -1, 1, 'float32', 2) as tf.Tensor4D;
      const before = tf.memory().numTensors;
      const lowRank = generator.applyPerLocation(feature, codes);
      expect(lowRank.shape).toEqual([2, 4, 3, 4]);
      const reference = materialised(generator, feature, codes);
      expect(maxAbsDiff(lowRank, reference)).toBeLessThan(1e-5);
      if (dataDependent) {
        const columns = tf.zeros([1, 27]) as tf.Tensor2D;
        const rowCodes = tf.zeros([1, 2]) as tf.Tensor2D;
        expect(() => generator.applyPerRow(columns, rowCodes)).toThrow(/data-dependent/);
        tf.dispose([columns, rowCodes]);
      } else {
        // Sparse inference: the im2col rows of some locations give their rows of the map.
        const kept = [
          [0, 0, 0],
          [0, 2, 1],
          [1, 3, 2],
          [1, 1, 0],
        ] as const;
        const { rows, expected } = tf.tidy(() => {
          const padded = tf.pad(feature, [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ]);
          const patch = ([b, y, x]: readonly number[]) =>
            tf.reshape(tf.slice(padded, [b!, y!, x!, 0], [1, 3, 3, 3]), [1, 27]);
          const at = (t: tf.Tensor4D, [b, y, x]: readonly number[]) =>
            tf.reshape(tf.slice(t, [b!, y!, x!, 0], [1, 1, 1, -1]), [1, -1]);
          const columns = tf.concat(kept.map(patch)) as tf.Tensor2D;
          const rowCodes = tf.concat(kept.map((p) => at(codes, p))) as tf.Tensor2D;
          return {
            rows: generator.applyPerRow(columns, rowCodes),
            expected: tf.concat(kept.map((p) => at(lowRank, p))),
          };
        });
        expect(rows.shape).toEqual([4, 4]);
        expect(maxAbsDiff(rows, expected)).toBeLessThan(1e-5);
        tf.dispose([rows, expected]);
      }
      tf.dispose([lowRank, reference]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([feature, codes]);
      store.dispose();
    });
  }

  it('names the expected shapes of bad inputs', () => {
    const store = new ParameterStore();
    const generator = new AnchorFunctionGenerator({ store, inChannels: 3, outChannels: 2 });
    const feature = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
    const codes = tf.zeros([1, 2, 3, 2]) as tf.Tensor4D;
    expect(() => generator.applyPerLocation(feature, codes)).toThrow(
      /codes must be \[1, 2, 2, 2\], got \[1, 2, 3, 2\]/,
    );
    tf.dispose([feature, codes]);
    store.dispose();
  });
});
