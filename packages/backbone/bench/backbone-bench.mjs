// Forward (1×3×S×S) and forward+backward (B×3×S×S) of ResNet + FPN on tfjs wasm against
// PyTorch CPU with the same thread count. Run with `corepack pnpm --filter @det/backbone bench`
// (builds first). DET_WASM_THREADS sets the threads of both (default 1).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { createResNetFpn, tinyResNetFpnPreset } from '../dist/index.js';

const threads = Number(process.env.DET_WASM_THREADS ?? 1);
const iterations = Number(process.env.BENCH_ITERATIONS ?? 1);
const only = process.env.BENCH_CASES?.split(',');

/** name, options, image size, training batch. FPN: RetinaNet P3–P7, P6 from C5. */
const cases = [
  {
    name: 'resnet18-fpn256',
    torch: '18:1:256',
    options: { resnet: { depth: 18 }, fpn: { outChannels: 256 } },
    size: 512,
    batch: 2,
  },
  {
    name: 'resnet50-fpn256',
    torch: '50:1:256',
    options: { resnet: { depth: 50 }, fpn: { outChannels: 256 } },
    size: 512,
    batch: 2,
  },
  {
    name: 'tiny preset (trains all)',
    torch: undefined,
    options: tinyResNetFpnPreset,
    size: 512,
    batch: 2,
  },
  {
    name: 'tiny preset @256',
    torch: undefined,
    options: tinyResNetFpnPreset,
    size: 256,
    batch: 4,
  },
].filter((c) => !only || only.some((name) => c.name.startsWith(name)));

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(fn) {
  await fn(); // warm-up (wasm compiles kernels, allocates memory)
  const samples = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

/** PyTorch timings of one case, run right after ours so both see the same machine load. */
function torchTimings(c) {
  if (!c.torch) return undefined;
  const specs = [`${c.name}:${c.torch}:${c.size}:${c.batch}`];
  const script = fileURLToPath(new URL('./torch_reference.py', import.meta.url));
  const result = spawnSync(
    '/usr/bin/python3',
    [script, String(threads), String(iterations), ...specs],
    {
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) {
    console.warn(`PyTorch reference unavailable: ${result.stderr.trim().split('\n').at(-1)}`);
    return undefined;
  }
  return JSON.parse(result.stdout);
}

const info = await initBackend({ backend: 'wasm', wasmThreads: threads });
const rows = [];
let torchVersion;
for (const c of cases) {
  const model = createResNetFpn(c.options);
  const forwardInput = tf.randomNormal([1, c.size, c.size, 3]);
  const trainInput = tf.randomNormal([c.batch, c.size, c.size, 3]);
  const forward = await timed(async () => {
    const outputs = model.apply(forwardInput);
    await outputs.p7.data();
    tf.dispose(Object.values(outputs));
  });
  const train = await timed(async () => {
    const { value, grads } = tf.variableGrads(() =>
      Object.values(model.apply(trainInput, { training: true }))
        .map((level) => tf.mean(tf.square(level)))
        .reduce((total, term) => tf.add(total, term)),
    );
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  });
  console.error(`  ${c.name}: forward ${forward.toFixed(0)} ms, fwd+bwd ${train.toFixed(0)} ms`);
  const reference = torchTimings(c);
  if (reference) torchVersion = reference.torch;
  rows.push({
    theirs: reference?.results[c.name],
    name: c.name,
    parameters: model.parameters.count(),
    size: c.size,
    batch: c.batch,
    forward,
    train,
  });
  tf.dispose([forwardInput, trainInput]);
  model.dispose();
}

const format = (ms) =>
  ms === undefined ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
const ratio = (ours, theirs) => (theirs === undefined ? '—' : `${(ours / theirs).toFixed(1)}×`);
console.log(
  `\n@det/backbone on tfjs ${info.name} (${info.device}, ${threads} thread) vs ${torchVersion ? `PyTorch ${torchVersion} CPU, torch.set_num_threads(${threads})` : 'no PyTorch'}; median of ${iterations} run(s) after a warm-up\n`,
);
console.log(
  '| backbone | trainable params | forward 1×3×S×S | torch | ratio | fwd+bwd B×3×S×S | torch | ratio |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) {
  const theirs = row.theirs;
  console.log(
    `| ${row.name} (S=${row.size}, B=${row.batch}) | ${(row.parameters / 1e6).toFixed(2)} M | ${format(row.forward)} | ${format(theirs?.forward_ms)} | ${ratio(row.forward, theirs?.forward_ms)} | ${format(row.train)} | ${format(theirs?.train_ms)} | ${ratio(row.train, theirs?.train_ms)} |`,
  );
}
