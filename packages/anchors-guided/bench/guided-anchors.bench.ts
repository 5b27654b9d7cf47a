import { initBackend, ParameterStore } from '@det/core';
import { disposeLevelOutputs } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import { GuidedAnchorFunction } from '../src/guided-anchor-function';
import { locationTargets } from '../src/location-targets';
import { disposeShapeTargets, ShapeTargetBuilder } from '../src/shape-targets';

await initBackend({ backend: 'wasm' });

// GA-RetinaNet-like head on one 64×64 level (P3 of a 512² input), 64 channels, batch 2.
const channels = 64;
const strides = [8];
function anchorFunction(
  sparseInference: 'always' | 'never',
  keptFraction: number,
): GuidedAnchorFunction {
  const fn = new GuidedAnchorFunction(
    {
      store: new ParameterStore(),
      inChannels: channels,
      numClasses: 80,
      clsName: 'retina_cls',
      regName: 'retina_reg',
      strides,
      sharedTower: false,
      kernelSize: 3,
      priorProbability: 0.01,
      seed: 0,
    },
    { squareScale: 4, sparseInference },
  );
  fn.location!.conv.weight.assign(tf.zeros(fn.location!.conv.weight.shape));
  fn.location!.conv.bias?.assign(tf.tensor1d([0]));
  // Logit = x[..., 0] - t keeps about `keptFraction` of N(0, 1) positions (p ≥ 0.01 ⇔ logit ≥ −4.6).
  const threshold = { 0.05: 1.645, 0.2: 0.842, 1: -10 }[keptFraction as 0.05 | 0.2 | 1];
  const weight = tf.buffer(fn.location!.conv.weight.shape);
  weight.set(1, 0, 0, 0, 0);
  fn.location!.conv.weight.assign(weight.toTensor());
  fn.location!.conv.bias?.assign(tf.tensor1d([-4.6 - threshold]));
  return fn;
}
const feature = tf.randomNormal([2, 64, 64, channels], 0, 1, 'float32', 1) as tf.Tensor4D;

function run(fn: GuidedAnchorFunction): void {
  const input = {
    level: 0,
    clsFeature: feature,
    regFeature: feature,
    training: false,
    plan: undefined,
  };
  const out = fn.applyCompact(input) ?? fn.apply(input);
  out.clsScores.dataSync();
  disposeLevelOutputs([out]);
}

describe('GA inference on a 2×64×64×64 level, 80 classes (wasm)', () => {
  const dense = anchorFunction('never', 1);
  for (const kept of [0.05, 0.2] as const) {
    const sparse = anchorFunction('always', kept);
    bench(`sparse (compact rows), ~${kept * 100}% kept`, () => run(sparse), {
      iterations: 5,
      warmupIterations: 1,
    });
  }
  bench('dense', () => run(dense), { iterations: 5, warmupIterations: 1 });
});

describe('targets for a batch of 2, 10 boxes each, P3–P7 of 512²', () => {
  const fixed = [0, 1].map((image) =>
    tf.tidy(() => {
      const corner = tf.randomUniform([10, 2], 0, 400, 'float32', image);
      const size = tf.randomUniform([10, 2], 8, 112, 'float32', image + 10);
      return tf.concat([corner, tf.add(corner, size)], 1) as tf.Tensor2D;
    }),
  );
  const pyramid = [8, 16, 32, 64, 128];
  const sizes = pyramid.map((s) => [Math.ceil(512 / s), Math.ceil(512 / s)] as const);
  const builder = new ShapeTargetBuilder({ strides: pyramid, squareScale: 4, octaveBaseScale: 4 });
  bench(
    'locationTargets',
    () => tf.dispose(locationTargets(fixed, sizes, { strides: pyramid, octaveBaseScale: 4 })),
    {
      iterations: 5,
    },
  );
  bench(
    'ShapeTargetBuilder.build (approx-max-IoU + sampling)',
    () => disposeShapeTargets(builder.build(fixed, sizes)),
    {
      iterations: 5,
    },
  );
});
