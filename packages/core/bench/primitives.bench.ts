import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { bench, describe } from 'vitest';
import {
  AnchorGenerator,
  disposeAssignResult,
  initBackend,
  MaxIoUAssigner,
  nms,
  retinanetAnchorOptions,
  type Size2D,
} from '../src/index';

// Issue 3's targets: MaxIoUAssigner on 120k anchors × 50 gts, nms on 20k boxes, gridPriors
// for a 1333×800 image over P3–P7, on wasm; torchvision on CPU (1 thread) for the ratio.
await initBackend({ backend: 'wasm' });

const dataPath = join(mkdtempSync(join(tmpdir(), 'det-bench-')), 'primitives.json');
const torchScript = new URL('./primitives-torch.py', import.meta.url).pathname;
const torch = JSON.parse(
  execFileSync('/usr/bin/python3', [torchScript, '1', dataPath], { encoding: 'utf8' }),
) as Record<string, number>;
const data = JSON.parse(readFileSync(dataPath, 'utf8')) as {
  gts: number[];
  boxes: number[];
  scores: number[];
  numAnchors: number;
};

const featmapSizes: Size2D[] = [8, 16, 32, 64, 128].map((s) => [
  Math.ceil(800 / s),
  Math.ceil(1333 / s),
]);
const generator = new AnchorGenerator(retinanetAnchorOptions);
const anchors = tf.tidy(() =>
  tf.slice(tf.concat(generator.gridPriors(featmapSizes)), [0, 0], [data.numAnchors, 4]),
);
const gts = tf.tensor2d(data.gts, [data.gts.length / 4, 4]);
const assigner = new MaxIoUAssigner({ posIouThreshold: 0.5, negIouThreshold: 0.4 });
const boxes = Float32Array.from(data.boxes);
const scores = Float32Array.from(data.scores);
const kept = nms(boxes, scores, { iouThreshold: 0.5 }).length;

console.log('\ntorchvision 0.14 CPU, 1 thread (median ms per call, same inputs):');
console.table({
  [`MaxIoUAssigner ${anchors.shape[0]} × ${gts.shape[0]}`]: { torch_ms: torch.assign_120k_x_50 },
  [`nms 20000 boxes (kept: torch ${torch.keptByNms}, det ${kept})`]: { torch_ms: torch.nms_20k },
  'gridPriors 1333×800 P3–P7': { torch_ms: torch.grid_priors_p3_p7 },
});

describe('detection primitives on wasm', () => {
  bench(
    `MaxIoUAssigner ${anchors.shape[0]} anchors × ${gts.shape[0]} gts`,
    () => {
      const result = assigner.assign(anchors as tf.Tensor2D, gts);
      result.gtIndices.dataSync();
      disposeAssignResult(result);
    },
    { iterations: 10, time: 0 },
  );

  bench(
    'nms 20000 boxes, IoU 0.5',
    () => {
      nms(boxes, scores, { iouThreshold: 0.5 });
    },
    { iterations: 5, time: 0 },
  );

  bench(
    'gridPriors 1333×800 over P3–P7 (RetinaNet, 9 anchors)',
    () => {
      const priors = generator.gridPriors(featmapSizes);
      priors[0]!.dataSync();
      tf.dispose(priors);
    },
    { iterations: 20, time: 0 },
  );
});
