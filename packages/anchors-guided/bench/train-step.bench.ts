import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
// @det/detectors depends on this package, so it cannot be a dependency here (turbo rejects the
// cycle): the bench reaches the detectors' source by path, as vitest's `@det/source` would.
import {
  createDetector,
  type DetectorBatch,
  type DetectorConfig,
  presets,
} from '../../detectors/src/index';
import { trainerFor } from '../../train/src/index';

/*
 * One training step of the tiny GA-RPN, GA-RetinaNet and their baselines (batch 2, 320²):
 * step time (median over interleaved repeats, so the machine's load hits every model alike) and a
 * `tf.profile` of one step (kernel launches and the top kernels by time).
 * Run: DET_WASM_THREADS=2 pnpm --filter @det/anchors-guided exec vitest bench --run bench/train-step.bench.ts
 * Env: BENCH_REPEATS (default 5), BENCH_MODELS (comma-separated names, default all).
 */
const backend = await initBackend({ backend: 'wasm' });

const size = 320;
const repeats = Number(process.env.BENCH_REPEATS ?? 5);

/** Five boxes per image from a fixed LCG: sides 16–200 px, as the embedded data's objects. */
function batchOf(images: number): DetectorBatch {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const boxes = Array.from({ length: images }, () =>
    Array.from({ length: 5 }, () => {
      const w = 16 + random() * 184;
      const h = 16 + random() * 184;
      const x = random() * (size - w);
      const y = random() * (size - h);
      return [x, y, x + w, y + h];
    }),
  );
  return {
    images: tf.randomNormal([images, size, size, 3], 0, 1, 'float32', 3) as tf.Tensor4D,
    gtBoxes: boxes.map((b) => tf.tensor2d(b)),
    gtLabels: boxes.map((b) =>
      tf.tensor1d(
        b.map((_, i) => i % 5),
        'int32',
      ),
    ),
    imageShapes: boxes.map(() => [size, size] as const),
  };
}

const models: Array<[string, () => DetectorConfig]> = [
  ['RPN', () => presets.tinyRpn()],
  ['GA-RPN', () => presets.tinyGaRpn()],
  ['RetinaNet', () => presets.tinyRetinaNet(5)],
  ['GA-RetinaNet', () => presets.tinyGaRetinaNet(5)],
  ['MetaAnchor RetinaNet', () => presets.metaRetinanetTiny(5)],
];
const wanted = process.env.BENCH_MODELS?.split(',');
const chosen = models.filter(([name]) => !wanted || wanted.includes(name));

const batch = batchOf(2);
const trainers = chosen.map(([name, config]) => {
  const detector = createDetector(config());
  const trainer = trainerFor(detector, detector.config.train);
  trainer.step(batch); // warm-up: kernels compiled, buffers sized
  return {
    name,
    trainer,
    times: [] as number[],
    cpu: [] as number[],
    coldTimes: [] as number[],
  };
});

/*
 * Each repeat steps every model twice in a row and times both: the second step is a training
 * run's (the model steps after itself, paying for its own garbage), the first comes right after
 * another model's step and pays for that model's garbage collection and cold caches.
 */
for (let r = 0; r < repeats; r++) {
  for (const entry of trainers) {
    const coldStart = performance.now();
    entry.trainer.step(batch);
    entry.coldTimes.push(performance.now() - coldStart);
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    entry.trainer.step(batch);
    entry.times.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuStart);
    // CPU time of all threads (the wasm pool included): less sensitive to other processes.
    entry.cpu.push((cpu.user + cpu.system) / 1000);
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

const rows: string[] = [];
for (const entry of trainers) {
  const profile = await tf.profile(() => {
    entry.trainer.step(batch);
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const kernel of profile.kernels) {
    const stat = byKernel.get(kernel.name) ?? { ms: 0, calls: 0 };
    stat.ms += Number(kernel.kernelTimeMs) || 0;
    stat.calls += 1;
    byKernel.set(kernel.name, stat);
  }
  const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
  console.log(
    `\n${entry.name}: ${profile.kernels.length} launches/step, median CPU ${median(entry.cpu).toFixed(0)} ms, median step ${median(entry.times).toFixed(0)} ms (${entry.times.map((t) => t.toFixed(0)).join(', ')})`,
  );
  const byCalls = [...byKernel.entries()].sort((a, b) => b[1].calls - a[1].calls).slice(0, 12);
  console.log('  by time:');
  for (const [name, stat] of top) {
    console.log(
      `  ${name.padEnd(28)} ${stat.ms.toFixed(1).padStart(8)} ms ${String(stat.calls).padStart(6)} calls`,
    );
  }
  console.log('  by launches:');
  for (const [name, stat] of byCalls) {
    console.log(
      `  ${name.padEnd(28)} ${stat.ms.toFixed(1).padStart(8)} ms ${String(stat.calls).padStart(6)} calls`,
    );
  }
  rows.push(
    `| ${entry.name} | ${median(entry.times).toFixed(0)} ms | ${Math.min(...entry.times).toFixed(0)}–${Math.max(...entry.times).toFixed(0)} ms | ${median(entry.cpu).toFixed(0)} ms | ${median(entry.coldTimes).toFixed(0)} ms | ${profile.kernels.length} |`,
  );
}
console.log(
  `\n${new Date().toISOString().slice(0, 10)}, wasm ${backend.threads} thread(s), ${repeats} interleaved repeats\n| model | median step (wall) | range | median CPU time | after another model's step (wall) | launches/step |\n| --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}`,
);

describe('train step (see the table above)', () => {
  bench('done', () => {}, { iterations: 1, time: 0, warmupIterations: 0 });
});
