// One model's training-step time on the backend initBackend picks (DET_BACKEND,
// DET_WASM_THREADS, DET_WEBGPU_ALLOW_SOFTWARE), printed as one JSON line: the det side of
// bench/cpu-table.mjs and bench/gpu-step.mjs (which run it once per backend and thread count).
//   node packages/detectors/bench/step-time.mjs --model tiny-retinanet [--batch 2 --size 320 --steps 5]
// Models: reference (packages/core/bench/reference-net.mjs, SGD), tiny-retinanet,
// tiny-ga-retinanet, tiny-meta-guided, r50-retinanet (presets, their own train settings).
// A step is `Trainer.stepAsync` (two-phase where the backend cannot read back synchronously),
// timed to its awaited result; median of --steps after one warm-up step.
import { parseArgs } from 'node:util';
import { initBackend } from '@det/core';
import { trainerFor } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import { createReferenceNet } from '../../core/bench/reference-net.mjs';
import { createDetector, presets } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    batch: { type: 'string', default: '2' },
    size: { type: 'string', default: '320' },
    steps: { type: 'string', default: '5' },
  },
});
const batch = Number(values.batch);
const size = Number(values.size);
const steps = Number(values.steps);
const configs = {
  'tiny-retinanet': () => presets.tinyRetinaNet(5),
  'tiny-ga-retinanet': () => presets.tinyGaRetinaNet(5),
  'tiny-meta-guided': () => presets.tinyMetaGuidedRetinaNet(5),
  'r50-retinanet': () => presets.retinanetR50Fpn1x(80),
};
if (values.model !== 'reference' && !(values.model in configs)) {
  throw new Error(
    `--model ${values.model} is not one of reference, ${Object.keys(configs).join(', ')}`,
  );
}

const info = await initBackend();

function referenceStep() {
  const net = createReferenceNet();
  const optimizer = tf.train.sgd(0.01);
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 3);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => (2 * i + 1) % 10),
      'int32',
    ),
    10,
  );
  return {
    optimizer: 'sgd',
    step: async () => {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(labels, net.forward(images)),
        true,
        net.params,
      );
      await loss.data();
      loss.dispose();
    },
  };
}

function detectorStep(config) {
  const detector = createDetector(config);
  const trainer = trainerFor(detector, detector.config.train);
  const box = [
    [0.1, 0.2, 0.5, 0.6],
    [0.4, 0.1, 0.9, 0.5],
  ].map((row) => row.map((v) => v * size));
  const data = {
    images: tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 3),
    gtBoxes: Array.from({ length: batch }, () => tf.tensor2d(box)),
    gtLabels: Array.from({ length: batch }, () => tf.tensor1d([0, 1], 'int32')),
    imageShapes: Array.from({ length: batch }, () => [size, size]),
  };
  return {
    optimizer: detector.config.train.optimizer,
    step: async () => {
      const result = await trainer.stepAsync(data);
      if (!result.finite) throw new Error(`non-finite step: ${result.nonFiniteTerm}`);
    },
  };
}

const { step, optimizer } =
  values.model === 'reference' ? referenceStep() : detectorStep(configs[values.model]());
await step(); // warm-up: kernels compiled, buffers sized, prior caches filled
const times = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  await step();
  times.push((performance.now() - start) / 1000);
}
times.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    model: values.model,
    backend: info.name,
    device: info.device,
    threads: info.threads,
    batch,
    size,
    optimizer,
    step: times[Math.floor(times.length / 2)],
  }),
);
