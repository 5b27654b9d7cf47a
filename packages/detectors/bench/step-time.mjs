// One model's training-step time on the backend initBackend picks (DET_BACKEND,
// DET_WASM_THREADS, DET_WEBGPU_ALLOW_SOFTWARE), printed as one JSON line: the det side of
// bench/cpu-table.mjs and bench/gpu-step.mjs (which run it once per backend and thread count).
//   node packages/detectors/bench/step-time.mjs --model tiny-retinanet [--batch 2 --size 320 --steps 5]
// Models: reference (packages/core/bench/reference-net.mjs, SGD), tiny-retinanet,
// tiny-ga-retinanet, tiny-meta-guided, r50-retinanet (presets, their own train settings).
// A step is `Trainer.stepAsync` (two-phase where the backend cannot read back synchronously),
// timed to its awaited result; median of --steps after one warm-up step, wall and CPU time (all
// threads of the process). --profile N first prints a `tf.profile` of one more step: the kernels
// by time, then the N largest (kernel, input shapes) groups (only kernel K with --kernel K).
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
    profile: { type: 'string' },
    kernel: { type: 'string' },
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
const cpu = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  await step();
  times.push((performance.now() - start) / 1000);
  const used = process.cpuUsage(cpuStart);
  cpu.push((used.user + used.system) / 1e6);
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
if (values.profile !== undefined) await printProfile(Number(values.profile));
console.log(
  JSON.stringify({
    model: values.model,
    backend: info.name,
    device: info.device,
    threads: info.threads,
    batch,
    size,
    optimizer,
    step: median(times),
    cpu: median(cpu),
  }),
);

async function printProfile(groups) {
  const profile = await tf.profile(step);
  const sum = (map, key, ms) => {
    const entry = map.get(key) ?? { ms: 0, calls: 0 };
    entry.ms += ms;
    entry.calls += 1;
    map.set(key, entry);
  };
  const byName = new Map();
  const byShape = new Map();
  for (const kernel of profile.kernels) {
    const ms = Number(kernel.kernelTimeMs) || 0;
    sum(byName, kernel.name, ms);
    sum(byShape, `${kernel.name} ${JSON.stringify(kernel.inputShapes)}`, ms);
  }
  const rows = (map) => [...map].sort((a, b) => b[1].ms - a[1].ms);
  const line = (key, { ms, calls }) =>
    `  ${ms.toFixed(1).padStart(8)} ms ${String(calls).padStart(5)}  ${key}`;
  console.log(`profile of one step: ${profile.kernels.length} launches`);
  for (const [key, entry] of rows(byName).slice(0, 20)) console.log(line(key, entry));
  const shapes = rows(byShape).filter(
    ([key]) => !values.kernel || key.startsWith(`${values.kernel} `),
  );
  if (groups > 0) console.log('by input shapes:');
  for (const [key, entry] of shapes.slice(0, groups)) console.log(line(key, entry));
}
