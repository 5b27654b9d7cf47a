// Kernel-by-kernel profile of one training step on the backend initBackend picks (DET_BACKEND,
// DET_WASM_THREADS): per kernel name the time and launches of a `tf.profile`d step, and with
// --shapes the top (kernel, input shapes) groups.
//   node packages/detectors/bench/profile-step.mjs --model tiny-retinanet [--shapes 30] [--steps 5]
import { parseArgs } from 'node:util';
import { initBackend } from '@det/core';
import { trainerFor } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import { createDetector, presets } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny-retinanet' },
    batch: { type: 'string', default: '2' },
    size: { type: 'string', default: '320' },
    steps: { type: 'string', default: '5' },
    shapes: { type: 'string', default: '0' },
    kernel: { type: 'string' },
  },
});
const configs = {
  'tiny-retinanet': () => presets.tinyRetinaNet(5),
  'tiny-ga-retinanet': () => presets.tinyGaRetinaNet(5),
  'tiny-meta-guided': () => presets.tinyMetaGuidedRetinaNet(5),
};
const batch = Number(values.batch);
const size = Number(values.size);
const info = await initBackend();
const detector = createDetector(configs[values.model]());
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
await trainer.stepAsync(data);
const wall = [];
const cpu = [];
for (let i = 0; i < Number(values.steps); i++) {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  await trainer.stepAsync(data);
  wall.push(performance.now() - start);
  const used = process.cpuUsage(cpuStart);
  cpu.push((used.user + used.system) / 1000);
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const profile = await tf.profile(async () => {
  await trainer.stepAsync(data);
});
const byName = new Map();
const byShape = new Map();
let total = 0;
for (const k of profile.kernels) {
  const ms = Number(k.kernelTimeMs) || 0;
  total += ms;
  const a = byName.get(k.name) ?? { ms: 0, calls: 0 };
  a.ms += ms;
  a.calls++;
  byName.set(k.name, a);
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const b = byShape.get(key) ?? { ms: 0, calls: 0 };
  b.ms += ms;
  b.calls++;
  byShape.set(key, b);
}
console.log(
  `${values.model} ${info.name} ${info.threads} thread(s): step ${median(wall).toFixed(0)} ms wall / ${median(cpu).toFixed(0)} ms CPU (median of ${wall.length}), profiled kernels ${total.toFixed(0)} ms, ${profile.kernels.length} launches`,
);
for (const [name, s] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) {
  console.log(
    `  ${name.padEnd(24)} ${s.ms.toFixed(1).padStart(7)} ms ${String(s.calls).padStart(5)}`,
  );
}
const n = Number(values.shapes);
if (n > 0) {
  console.log('by shape:');
  const groups = [...byShape].filter(
    ([key]) => !values.kernel || key.startsWith(`${values.kernel} `),
  );
  for (const [key, s] of groups.sort((a, b) => b[1].ms - a[1].ms).slice(0, n)) {
    console.log(`  ${s.ms.toFixed(1).padStart(7)} ms ${String(s.calls).padStart(4)}  ${key}`);
  }
}
