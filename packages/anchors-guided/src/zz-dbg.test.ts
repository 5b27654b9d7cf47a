import { initBackend, RandomSampler } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import { ShapeTargetBuilder } from './shape-targets';
it('dbg', async () => {
  await initBackend({ backend: 'wasm' });
  const builder = new ShapeTargetBuilder({ strides: [8, 16], sampler: new RandomSampler({ num: 10_000, posFraction: 1 }) });
  const approxes = tf.concat(builder.approxGenerator.gridPriors([[16, 16], [8, 8]])) as tf.Tensor2D;
  const squares = builder.squares([[16, 16], [8, 8]]);
  const gt = tf.tensor2d([[10, 10, 60, 70], [30, 40, 100, 90], [0, 0, 30, 120]]);
  const a = builder.assigner.assign(approxes, squares, gt);
  const s = builder.sampler.sample(a, squares, gt);
  const g = a.gtIndices.dataSync();
  console.log(g.filter((v) => v > 0).length, s.posIndices.dataSync(), s.posGtIndices.dataSync());
});
