// Cost of MetaAnchor's generated anchor functions against RetinaNet's dense final convs:
// forward + backward ms of the last layer (cls + reg) on P3–P5 tower features, and
// parameter counts, at 3×3 and 9×9 anchors. Needs `pnpm build` of this package and its deps.
// Usage: node bench/head-cost.mjs [--iterations N] [--channels C] [--classes K] [--size S]
import { parseArgs } from 'node:util';
import { initBackend, metaAnchorOptions, ParameterStore } from '@det/core';
import { DenseAnchorFunction } from '@det/heads';
import * as tf from '@tensorflow/tfjs-core';
import { MetaAnchorFunction } from '../dist/index.js';

const { values } = parseArgs({
  allowPositionals: true,
  options: {
    iterations: { type: 'string', default: '5' },
    channels: { type: 'string', default: '64' },
    classes: { type: 'string', default: '20' },
    size: { type: 'string', default: '128' },
  },
});
const iterations = Number(values.iterations);
const channels = Number(values.channels);
const classes = Number(values.classes);
const size = Number(values.size);
const strides = [8, 16, 32];

const info = await initBackend({ backend: 'wasm' });

function build(kind, n, options) {
  const store = new ParameterStore();
  // The context a RetinaNet-style head hands its anchor function.
  const context = {
    store,
    inChannels: options.channels,
    numClasses: options.classes,
    clsName: 'retina_cls',
    regName: 'retina_reg',
    strides: options.strides,
    sharedTower: false,
    kernelSize: 3,
    priorProbability: 0.01,
    seed: 0,
  };
  const { strides: _strides, ...anchors } = metaAnchorOptions(n);
  const fn =
    kind === 'dense'
      ? new DenseAnchorFunction(context, { anchors })
      : new MetaAnchorFunction(context, {
          anchors: `${n}x${n}`,
          dataDependent: kind === 'meta (eq. 6)',
        });
  return { store, fn };
}

function time(kind, n) {
  const { store, fn } = build(kind, n, { channels, classes, strides });
  const features = strides.map((stride, level) =>
    tf.randomNormal([1, size / stride, size / stride, channels], 0, 1, 'float32', level),
  );
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const plan = fn.plan({ training: true, batchSize: 1 });
      const outputs = features.map((feature, level) =>
        fn.apply({ level, clsFeature: feature, regFeature: feature, training: true, plan }),
      );
      let total = tf.scalar(0);
      for (const o of outputs) {
        total = tf.add(
          total,
          tf.add(tf.mean(tf.square(o.clsScores)), tf.mean(tf.square(o.boxDeltas))),
        );
      }
      return total;
    }, store.trainableVariables());
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) step();
  const ms = (performance.now() - start) / iterations;
  const params = store.count();
  tf.dispose(features);
  fn.dispose?.();
  store.dispose();
  return { ms, params };
}

function paramsAt(kind, n, c, k) {
  const { store, fn } = build(kind, n, { channels: c, classes: k, strides: [8, 16, 32, 64, 128] });
  const params = store.count();
  fn.dispose?.();
  store.dispose();
  return params;
}

console.log(
  `backend ${info.name}; last layer (cls + reg) on P3–P5 of a ${size}×${size} input, C=${channels}, K=${classes}, batch 1, mean of ${iterations}`,
);
const rows = [];
for (const kind of ['dense', 'meta (eq. 4–5)', 'meta (eq. 6)']) {
  for (const n of [3, 9]) {
    const { ms, params } = time(kind, n);
    rows.push({
      head: kind,
      anchors: `${n}×${n}`,
      'fwd+bwd ms': ms.toFixed(1),
      params,
      'params @C=256,K=80': paramsAt(kind, n, 256, 80),
    });
  }
}
console.table(rows);
