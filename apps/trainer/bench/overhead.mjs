#!/usr/bin/env node
// Trainer overhead: `det train`'s loop (data loading with decode + normalize prefetched while
// the step computes, log.jsonl per step, progress lines, hooks, checkpoints every 100 steps)
// against bare `Trainer.step` on one pre-built batch, on the tiny RetinaNet preset at 320 px.
// Rounds alternate bare and full so machine load hits both alike; the direct measure (time
// outside the step within the loop) does not depend on the load at all. Goal: ≤ 5 % per step.
//   BENCH_STEPS  steps per round (default 10), BENCH_ROUNDS (default 3)
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { generateSyntheticDataset, loadCocoDataset } from '@det/data';
import { createDetector, presets } from '@det/detectors';
import { engineOptionsOf, saveCheckpoint, trainerFor, trainLoop } from '@det/train';
import { jsonLinesLogHook, progressHook, trainingData } from '../dist/index.js';

const steps = Number(process.env.BENCH_STEPS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
await initBackend({ backend: 'wasm', wasmThreads: Number(process.env.DET_WASM_THREADS ?? 1) });
const directory = await mkdtemp(join(tmpdir(), 'det-overhead-'));
const paths = await generateSyntheticDataset({
  outDir: join(directory, 'data'),
  seed: 1,
  trainImages: 40,
  valImages: 1,
  width: 320,
  height: 320,
});
const dataset = await loadCocoDataset({
  annotationFile: paths.train.annotationFile,
  imageRoot: paths.train.imageRoot,
});
const config = presets.tinyRetinaNet(dataset.classNames.length);
const detector = createDetector(config);
const data = trainingData(dataset, { batchSize: 2, seed: 0 });
// One fixed batch for the bare steps (decoded once, outside the timing).
const iterator = data.batches(undefined)[Symbol.asyncIterator]();
const fixed = (await iterator.next()).value;
await iterator.return?.();

let bareSeconds = 0;
let fullSeconds = 0;
let bareSteps = 0;
let fullSteps = 0;
let position;
let outsideSeconds = 0;
let insideSeconds = 0;
let previousHookAt;
const trainer = trainerFor(detector, config.train);
trainer.step(fixed.batch); // warm-up: kernels compiled, caches built
for (let round = 0; round < rounds; round++) {
  let start = performance.now();
  for (let i = 0; i < steps; i++) trainer.step(fixed.batch);
  bareSeconds += (performance.now() - start) / 1000;
  bareSteps += steps;

  start = performance.now();
  previousHookAt = undefined;
  const outcome = await trainLoop({
    trainer,
    data: { batches: () => data.batches(position) },
    optimizerOptions: engineOptionsOf(config.train).optimizer,
    maxIters: trainer.iteration + steps,
    hooks: [
      jsonLinesLogHook(join(directory, 'log.jsonl')),
      progressHook({ interactive: false, interval: 20, log: () => undefined }),
      // Direct measure, immune to machine drift: wall time between consecutive steps' last
      // hook minus the step itself = data wait, hooks, logging, loop bookkeeping.
      {
        afterStep: (_, report) => {
          const now = performance.now();
          if (previousHookAt !== undefined) {
            outsideSeconds += (now - previousHookAt) / 1000 - report.stepSeconds;
            insideSeconds += report.stepSeconds;
          }
          previousHookAt = now;
        },
      },
    ],
  });
  fullSeconds += (performance.now() - start) / 1000;
  fullSteps += outcome.iterations - outcome.resumedFrom;
  position = { epoch: 0, index: 0 };
}
fixed.dispose();
// One checkpoint write, amortised over det train's default interval of 100 steps.
const saveStart = performance.now();
await saveCheckpoint(join(directory, 'last'), {
  parameters: detector.parameters,
  optimizer: trainer.optimizer.state(),
  state: {
    iteration: trainer.iteration,
    dataPosition: null,
    elapsedSeconds: 0,
    optimizer: { ...engineOptionsOf(config.train).optimizer, step: 0 },
    schedule: trainer.schedule,
  },
});
const saveSeconds = (performance.now() - saveStart) / 1000;
const bare = bareSeconds / bareSteps;
const full = fullSeconds / fullSteps;
console.log(
  `tiny RetinaNet 320×320 batch 2: bare Trainer.step ${(bare * 1000).toFixed(0)} ms/step, det train loop ${(full * 1000).toFixed(0)} ms/step over ${fullSteps} steps: overhead ${(((full - bare) / bare) * 100).toFixed(1)} % (goal ≤ 5 %)`,
);
console.log(
  `direct: time in the loop outside Trainer.step (data wait, hooks, log, progress) = ${((outsideSeconds / insideSeconds) * 100).toFixed(2)} % of step time`,
);
console.log(
  `checkpoint write ${(saveSeconds * 1000).toFixed(0)} ms = ${((saveSeconds / 100 / bare) * 100).toFixed(2)} % per step at the default interval of 100`,
);
