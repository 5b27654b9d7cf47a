// Step time (forward + backward + SGD) of the reference net at 4×256×256×3 on every
// backend available here, against PyTorch CPU (Debian python3-torch) when present.
// Usage: node bench/train-step.mjs [--steps N] [--backends wasm,cpu] [--threads N]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../dist/index.js';
import { createReferenceNet } from './reference-net.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '5' },
    backend: { type: 'string', default: process.env.DET_BACKEND ?? '' },
    batch: { type: 'string', default: '4' },
    size: { type: 'string', default: '256' },
    threads: { type: 'string', default: process.env.DET_WASM_THREADS ?? '1' },
  },
});
const steps = Number(values.steps);
const batch = Number(values.batch);
const size = Number(values.size);

const info = await initBackend({
  backend: values.backend || undefined,
  wasmThreads: Number(values.threads),
});
const net = createReferenceNet();
const optimizer = tf.train.sgd(0.01);
const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 3);
const labels = tf.oneHot(tf.tensor1d([1, 3, 5, 7].slice(0, batch), 'int32'), 10);
const step = () => {
  const loss = optimizer.minimize(
    () => tf.losses.softmaxCrossEntropy(labels, net.forward(images)),
    true,
    net.params,
  );
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
};
step(); // warm-up: kernel compilation, allocation
const times = [];
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  step();
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)] / 1000;

let torch;
const python = '/usr/bin/python3';
if (existsSync(python)) {
  try {
    const out = execFileSync(
      python,
      [
        join(here, '../../../bench/torch_step.py'),
        '--model',
        'reference',
        '--steps',
        String(steps),
        '--batch',
        String(batch),
        '--size',
        String(size),
        '--threads',
        String(info.threads || 1),
      ],
      { encoding: 'utf8' },
    );
    torch = JSON.parse(out.trim().split('\n').pop());
  } catch (error) {
    console.error(`PyTorch reference unavailable: ${error.message.split('\n')[0]}`);
  }
}
const rows = [
  {
    runtime: `det ${info.name} (${info.device})`,
    threads: info.threads,
    parameters: net.count,
    'step s': median.toFixed(3),
  },
];
if (torch) {
  rows.push({
    runtime: `PyTorch ${torch.version} CPU`,
    threads: torch.threads,
    parameters: torch.parameters,
    'step s': torch.step.toFixed(3),
  });
  rows[0]['× PyTorch'] = (median / torch.step).toFixed(2);
}
console.log(`reference net, batch ${batch}×${size}×${size}×3, median of ${steps} steps`);
console.table(rows);
