#!/usr/bin/env node
// Memory over a long run: the full det train loop (loader, hooks, log) on the tiny RetinaNet
// preset; live tensors and the post-GC JS heap sampled every 25 steps. Flat means: the tensor
// count never changes, and the heap after the warm-up stays within a few MiB.
//   BENCH_STEPS (default 1000), BENCH_SIZE image side (default 128)
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { generateSyntheticDataset, loadCocoDataset } from '@det/data';
import { createDetector, presets } from '@det/detectors';
import { engineOptionsOf, trainerFor, trainLoop } from '@det/train';
import { jsonLinesLogHook, progressHook, trainingData } from '../dist/index.js';

const steps = Number(process.env.BENCH_STEPS ?? 1000);
const size = Number(process.env.BENCH_SIZE ?? 128);
await initBackend({ backend: 'wasm', wasmThreads: Number(process.env.DET_WASM_THREADS ?? 1) });
const directory = await mkdtemp(join(tmpdir(), 'det-memory-'));
const paths = await generateSyntheticDataset({
  outDir: join(directory, 'data'),
  seed: 1,
  trainImages: 32,
  valImages: 1,
  width: size,
  height: size,
});
const dataset = await loadCocoDataset({
  annotationFile: paths.train.annotationFile,
  imageRoot: paths.train.imageRoot,
});
const config = presets.tinyRetinaNet(dataset.classNames.length);
const detector = createDetector({ ...config, train: { ...config.train, maxIters: steps } });
const trainer = trainerFor(detector, detector.config.train);
const samples = [];
await trainLoop({
  trainer,
  data: trainingData(dataset, { batchSize: 2, seed: 0 }),
  optimizerOptions: engineOptionsOf(detector.config.train).optimizer,
  maxIters: steps,
  checkpoint: { directory: join(directory, 'checkpoints'), interval: 100 },
  hooks: [
    jsonLinesLogHook(join(directory, 'log.jsonl')),
    progressHook({ interactive: false, interval: 100, log: console.log }),
    {
      // The heap after a full GC every 25 steps (run with --expose-gc), so the sawtooth of
      // young-generation garbage does not hide (or fake) a trend.
      afterStep: (_, report) => {
        if ((report.iteration + 1) % 25 !== 0) return;
        globalThis.gc?.();
        samples.push({ tensors: report.tensors, heap: process.memoryUsage().heapUsed });
      },
    },
  ],
});
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
if (!globalThis.gc) console.warn('run with node --expose-gc for post-GC heap samples');
const warm = samples.slice(Math.min(1, samples.length - 1));
const tensors = warm.map((sample) => sample.tensors);
const heaps = warm.map((sample) => sample.heap);
console.log(
  `${steps} steps at ${size}×${size} (sampled every 25): tensors at step 50 ${tensors[0]}, min ${Math.min(...tensors)}, max ${Math.max(...tensors)}, last ${tensors.at(-1)}; ` +
    `heap (after GC) at step 50 ${mib(heaps[0])} MiB, min ${mib(Math.min(...heaps))}, max ${mib(Math.max(...heaps))}, last ${mib(heaps.at(-1))} MiB`,
);
trainer.dispose();
detector.dispose();
