// deformConv2d, multiLevelRoiAlign and maskedConv2d on wasm (1 thread) against torchvision on
// CPU (1 thread, bench/ops-torch.py with Debian's /usr/bin/python3). Times are CPU time
// (process.cpuUsage / time.process_time): the machine is shared, both sides use one thread.
// Peak memory is tf.profile's peakBytes above the bytes alive before the case.
// DET_BENCH_TORCH=0 skips the torchvision run (its CPU deform_conv2d alone takes ~50 s).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { deformConv2d, initBackend, maskedConv2d, multiLevelRoiAlign } from '../src/index';

interface Row {
  cpuMs: number[];
  peakMB?: number;
  torch?: string;
}
const rows = new Map<string, Row>();

/** Records CPU time per call; the first (warm-up) call also records peak memory. */
function measured(name: string, run: () => tf.Tensor | tf.Tensor[], torch?: string) {
  rows.set(name, { cpuMs: [], torch });
  let first = true;
  return async () => {
    const row = rows.get(name) as Row;
    const force = () => {
      const outs = tf.tidy(() => {
        const out = run();
        return (Array.isArray(out) ? out : [out]).map((t) => tf.sum(t));
      });
      for (const t of outs) t.dataSync();
      tf.dispose(outs);
    };
    if (first) {
      first = false;
      const before = tf.memory().numBytes;
      const profile = await tf.profile(force);
      row.peakMB = (profile.peakBytes - before) / 2 ** 20;
      return;
    }
    const start = process.cpuUsage();
    force();
    const used = process.cpuUsage(start);
    row.cpuMs.push((used.user + used.system) / 1000);
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const once = { iterations: 2, time: 0, warmupIterations: 0, warmupTime: 0 };
const tensors: Record<string, tf.Tensor> = {};
const levelsOf = () => ['p2', 'p3', 'p4', 'p5'].map((n) => tensors[n] as tf.Tensor4D);
const scales = [1 / 4, 1 / 8, 1 / 16, 1 / 32];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', wasmThreads: 1 });
  tensors.input = tf.randomNormal([2, 64, 64, 256], 0, 1, 'float32', 1);
  tensors.offset = tf.mul(tf.randomNormal([2, 64, 64, 18], 0, 1, 'float32', 2), 2);
  tensors.filter = tf.mul(tf.randomNormal([3, 3, 256, 256], 0, 1, 'float32', 3), 0.02);
  ['p2', 'p3', 'p4', 'p5'].forEach((name, i) => {
    tensors[name] = tf.randomNormal([1, 200 / 2 ** i, 200 / 2 ** i, 256], 0, 1, 'float32', 4 + i);
  });
  // 512 RoIs over an 800×800 image: log-uniform sizes 16..800 px (as ops-torch.py).
  tensors.rois = tf.tidy(() => {
    const logSize = tf.randomUniform([512, 2], Math.log(16), Math.log(800), 'float32', 9);
    const size = tf.exp(logSize);
    const centre = tf.randomUniform([512, 2], 0, 800, 'float32', 10);
    return tf.concat([tf.sub(centre, tf.div(size, 2)), tf.add(centre, tf.div(size, 2))], 1);
  });
  for (const density of [0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1]) {
    tensors[`mask${density}`] = tf.less(
      tf.randomUniform([2, 64, 64], 0, 1, 'float32', 20),
      density,
    );
  }
});

afterAll(() => {
  let torch: Record<string, number> = {};
  const script = fileURLToPath(new URL('./ops-torch.py', import.meta.url));
  if (process.env.DET_BENCH_TORCH !== '0' && existsSync('/usr/bin/python3')) {
    try {
      torch = JSON.parse(
        execFileSync('/usr/bin/python3', [script], { encoding: 'utf8', timeout: 600_000 }),
      );
    } catch (error) {
      console.warn(`torchvision timing skipped: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  const table = [...rows].map(([name, row]) => {
    const ms = median(row.cpuMs);
    const reference = row.torch ? torch[row.torch] : undefined;
    return {
      case: name,
      'wasm CPU ms': Math.round(ms),
      'peak MB': row.peakMB === undefined ? '' : row.peakMB.toFixed(1),
      'torchvision CPU ms': reference === undefined ? '' : Math.round(reference),
      'wasm / torch': reference === undefined ? '' : (ms / reference).toFixed(2),
    };
  });
  console.table(table);
  tf.dispose(Object.values(tensors));
});

describe('deformConv2d [2, 64, 64, 256] → 256, 3×3, pad 1', () => {
  bench(
    'forward + backward (input, offset, filter)',
    measured(
      'deformConv2d fwd+bwd',
      () =>
        tf.grads((x, o, w) =>
          tf.sum(deformConv2d(x as tf.Tensor4D, o as tf.Tensor4D, w as tf.Tensor4D, { pad: 1 })),
        )([tensors.input, tensors.offset, tensors.filter] as tf.Tensor[]),
      'deformConv2d fwd+bwd',
    ),
    once,
  );
});

describe('multiLevelRoiAlign: 512 RoIs, 7×7, P2–P5 of 800×800, C=256, sampling 2', () => {
  const options = { outputSize: 7, samplingRatio: 2, spatialScales: scales };
  const batch = new Array(512).fill(0);
  bench(
    'forward',
    measured(
      'multiLevelRoiAlign fwd',
      () => multiLevelRoiAlign(levelsOf(), tensors.rois as tf.Tensor2D, batch, options),
      'multiLevelRoiAlign fwd',
    ),
    { ...once, iterations: 4 },
  );
  bench(
    'forward + backward (features)',
    measured(
      'multiLevelRoiAlign fwd+bwd',
      () =>
        tf.grads((...levels: tf.Tensor[]) =>
          tf.sum(
            multiLevelRoiAlign(
              levels as tf.Tensor4D[],
              tensors.rois as tf.Tensor2D,
              batch,
              options,
            ),
          ),
        )(levelsOf()),
      'multiLevelRoiAlign fwd+bwd',
    ),
    { ...once, iterations: 4 },
  );
});

describe('maskedConv2d [2, 64, 64, 256] → 256, 3×3 (inference)', () => {
  const input = () => tensors.input as tf.Tensor4D;
  const filter = () => tensors.filter as tf.Tensor4D;
  bench(
    'dense conv2d',
    measured(
      'dense conv2d',
      () => tf.conv2d(input(), filter(), 1, 'same'),
      'dense conv2d (masked-conv reference)',
    ),
    { ...once, iterations: 4 },
  );
  for (const density of [0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1]) {
    bench(
      `sparse, density ${density}`,
      measured(`maskedConv2d sparse ${density * 100}%`, () =>
        maskedConv2d(input(), filter(), tensors[`mask${density}`] as tf.Tensor, { denseAbove: 2 }),
      ),
      { ...once, iterations: 4 },
    );
    bench(
      `dense path, density ${density}`,
      measured(`maskedConv2d dense path ${density * 100}%`, () =>
        maskedConv2d(input(), filter(), tensors[`mask${density}`] as tf.Tensor, { denseAbove: 0 }),
      ),
      { ...once, iterations: 4 },
    );
  }
});
