// Training-step time of several presets on the SAME batches of the embedded training data,
// interleaved (each repeat: every model steps on batch r twice, the second step timed), so a
// shared machine's load hits every model alike: the real-data counterpart of
// packages/anchors-guided/bench/train-step.bench.ts (which uses random images, 5 boxes each).
//   pnpm --filter @det/trainer build && DET_WASM_THREADS=2 node apps/trainer/bench/step-ratio.mjs \
//     [--presets tinyRpn,tinyGaRpn,tinyRetinaNet,tinyGaRetinaNet] [--repeats 11] [--set path=value ...]
// `--set` applies to every preset (e.g. train.optimizer=adam); each preset's own recipe otherwise.
import { parseArgs } from 'node:util';
import { createDetector } from '@det/detectors';
import { trainerFor } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import {
  loadSplit,
  numClassesOf,
  resolveRunConfig,
  startBackend,
  trainingData,
} from '../dist/index.js';

const { values } = parseArgs({
  options: {
    presets: { type: 'string', default: 'tinyRpn,tinyGaRpn,tinyRetinaNet,tinyGaRetinaNet' },
    repeats: { type: 'string', default: '11' },
    set: { type: 'string', multiple: true, default: [] },
  },
});
const presetNames = values.presets.split(',');
const repeats = Number(values.repeats);
const backend = await startBackend(() => {});

const configs = await Promise.all(
  presetNames.map((preset) => resolveRunConfig({ preset, settings: values.set }, numClassesOf)),
);
const { dataset } = await loadSplit(configs[0].data, 'train');
const batches = [];
for await (const item of trainingData(dataset, { batchSize: 2, seed: 0 }).batches(undefined)) {
  batches.push(item);
  if (batches.length === repeats) break;
}
const boxes = batches.map((item) => item.batch.gtBoxes.reduce((n, b) => n + b.shape[0], 0));
const models = configs.map((config, index) => {
  const detector = createDetector(config.detector);
  const trainer = trainerFor(detector, {
    ...config.detector.train,
    policy: config.run.lrPolicy,
    minLr: config.run.minLr,
  });
  trainer.step(batches[0].batch); // warm-up
  return { name: presetNames[index], trainer, wall: [], cpu: [] };
});
for (let r = 0; r < repeats; r++) {
  for (const model of models) {
    model.trainer.step(batches[r].batch);
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    model.trainer.step(batches[r].batch);
    model.wall.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuStart);
    model.cpu.push((cpu.user + cpu.system) / 1000);
  }
}
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(
  `${new Date().toISOString().slice(0, 16)}Z, ${backend.name} ${backend.threads} thread(s), ${repeats} batches of 2 from the embedded training set (${Math.min(...boxes)}–${Math.max(...boxes)} boxes per batch), each model's second step on each batch`,
);
console.log('| model | median step (wall) | median CPU |\n| --- | --- | --- |');
for (const model of models) {
  console.log(
    `| ${model.name} | ${median(model.wall).toFixed(0)} ms | ${median(model.cpu).toFixed(0)} ms |`,
  );
}
const byName = Object.fromEntries(models.map((m) => [m.name, m]));
for (const [ga, base] of [
  ['tinyGaRpn', 'tinyRpn'],
  ['tinyGaRetinaNet', 'tinyRetinaNet'],
]) {
  if (byName[ga] && byName[base]) {
    console.log(
      `${ga} ÷ ${base}: wall ${(median(byName[ga].wall) / median(byName[base].wall)).toFixed(2)}, CPU ${(median(byName[ga].cpu) / median(byName[base].cpu)).toFixed(2)}`,
    );
  }
}
for (const item of batches) item.dispose();
tf.disposeVariables();
process.exit(0);
