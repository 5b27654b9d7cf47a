// Guided Anchoring's Table 5 with our columns: sparse vs dense inference of a trained GA-RPN and
// GA-RetinaNet at εL ∈ {0, 0.01, 0.05, 0.1} on the embedded synthetic validation split.
//
// Train the models first (not overfit; the kept fraction of an overfit model is not
// representative), e.g. from the repository root:
//   nice -n 10 pnpm det train --preset tinyGaRpn --name bench-tinyGaRpn --set train.maxIters=300
//   nice -n 10 pnpm det train --preset tinyGaRetinaNet --name bench-tinyGaRetinaNet --set train.maxIters=300
// then (after `pnpm turbo run build --filter=@det/detectors...`):
//   node packages/detectors/bench/sparse-inference.mjs --runs runs/bench-tinyGaRpn,runs/bench-tinyGaRetinaNet
//
// Per model and εL: kept locations per image (and their share of all locations), the head's
// time after the towers (location branch → candidates: what the sparse path changes) and with
// the towers, whole-model `predict` time (backbone + head + NMS), sparse vs dense, and COCO
// AR / AP of the sparse path (the dense path's detections are checked to be the same on the
// timed batches). Times are the process's CPU time (wasm, 1 thread; the machine may be shared):
// variants alternate batch by batch (A B B A ...), medians over the timed batches.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '@det/core';
import { DetectionDataLoader, ensureDefaultDataset, loadCocoDataset, normalize } from '@det/data';
import { checkpointFiles, loadParameters, readCheckpoint } from '@det/train';
import * as tf from '@tensorflow/tfjs-core';
import {
  createDetector,
  evaluateCoco,
  parseDetectorConfig,
  predictDataset,
} from '../dist/index.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: 'runs/bench-tinyGaRpn,runs/bench-tinyGaRetinaNet' },
    thresholds: { type: 'string', default: '0,0.01,0.05,0.1' },
    'eval-images': { type: 'string', default: '100' },
    'timed-batches': { type: 'string', default: '10' },
    batch: { type: 'string', default: '2' },
  },
});
const thresholds = values.thresholds.split(',').map(Number);
const batchSize = Number(values.batch);
const evalImages = Number(values['eval-images']);
const timedBatches = Number(values['timed-batches']);

await initBackend({ backend: 'wasm', wasmThreads: 1 });
const paths = await ensureDefaultDataset();
const val = await loadCocoDataset(paths.val);
const records = val.records.slice(0, evalImages);
const { readFile } = await import('node:fs/promises');
const fullGt = JSON.parse(await readFile(paths.val.annotationFile, 'utf8'));
const ids = new Set(records.map((r) => r.imageId));
const groundTruth = {
  ...fullGt,
  images: fullGt.images.filter((image) => ids.has(image.id)),
  annotations: fullGt.annotations.filter((a) => ids.has(a.image_id)),
};

const cpuMs = (run) => {
  const start = process.cpuUsage();
  const result = run();
  const used = process.cpuUsage(start);
  return { ms: (used.user + used.system) / 1000, result };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function loadRun(run) {
  const base = join(run, 'checkpoints');
  const file = ['last', 'best']
    .map((name) => checkpointFiles(join(base, name)).tensors)
    .find(existsSync);
  if (!file) throw new Error(`${run}: no checkpoint (train first)`);
  const saved = await readCheckpoint(file);
  const config =
    saved.config?.detector ?? JSON.parse(await readFile(join(run, 'config.json'), 'utf8')).detector;
  return {
    config: parseDetectorConfig(config),
    parameters: saved.parameters,
    iteration: saved.state.iteration,
    file,
  };
}

function variant(saved, fields) {
  const config = saved.config;
  const head = { ...config.head, anchorScheme: { ...config.head.anchorScheme, ...fields } };
  const detector = createDetector(parseDetectorConfig({ ...config, head }));
  loadParameters(detector.parameters, saved.parameters);
  return detector;
}

/** Head time: towers alone, and towers + anchor function + post-processing. */
function headTimes(detector, features, imageShapes, proposals) {
  const head = detector.head;
  const towers = cpuMs(() => {
    const outs = features.map((f) => {
      const cls = head.clsTower.apply(f);
      const reg = head.regTower ? head.regTower.apply(f) : cls;
      reg.dataSync();
      return cls === reg ? [cls] : [cls, reg];
    });
    tf.dispose(outs.flat());
  }).ms;
  const total = cpuMs(() => {
    const outputs = tf.tidy(() => head.infer(features));
    const result = proposals
      ? head.proposals(outputs, imageShapes, detector.output.test)
      : head.predict(outputs, imageShapes, detector.output.test);
    const kept = outputs.map((o) =>
      'rowsPerImage' in o ? o.rowsPerImage.reduce((a, b) => a + b, 0) : null,
    );
    const cells = outputs.map((o) =>
      'rowsPerImage' in o ? null : o.evaluated.shape[1] * o.evaluated.shape[0],
    );
    for (const o of outputs) {
      tf.dispose([
        o.clsScores,
        o.boxDeltas,
        o.priors,
        ...(o.evaluated ? [o.evaluated] : []),
        ...Object.values(o.extras ?? {}),
      ]);
    }
    return { result, kept, cells };
  });
  return { towers, total: total.ms, after: total.ms - towers, ...total.result };
}

const sameDetections = (a, b) =>
  a.length === b.length &&
  a.every((d, i) => {
    const e = b[i];
    if (d.scores.length !== e.scores.length) return false;
    for (let j = 0; j < d.scores.length; j++)
      if (Math.abs(d.scores[j] - e.scores[j]) > 1e-4) return false;
    for (let j = 0; j < d.boxes.length; j++)
      if (Math.abs(d.boxes[j] - e.boxes[j]) > 1e-2) return false;
    return true;
  });

const table = [];
for (const run of values.runs.split(',')) {
  const saved = await loadRun(run);
  const proposals = saved.config.kind === 'single-stage' && saved.config.head.type === 'rpn';
  const name = proposals ? 'GA-RPN' : 'GA-RetinaNet';
  console.log(`${name}: ${saved.file} (iteration ${saved.iteration})`);
  for (const threshold of thresholds) {
    const sparse = variant(saved, { sparseInference: 'always', locationThreshold: threshold });
    const dense = variant(saved, { sparseInference: 'never', locationThreshold: threshold });
    const times = {
      sparse: { head: [], after: [], whole: [] },
      dense: { head: [], after: [], whole: [] },
    };
    let keptTotal = 0;
    let cellsTotal = 0;
    let imagesTimed = 0;
    let allSame = true;
    const loader = new DetectionDataLoader({
      records,
      batchSize,
      transforms: [normalize()],
      shuffle: false,
    });
    let index = 0;
    for await (const batch of loader.batches()) {
      if (index >= timedBatches) {
        tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
        continue;
      }
      const imageShapes = batch.metas.map((m) => [m.height, m.width]);
      const features = sparse.backbone.apply(batch.images, { training: false });
      const order = index % 2 === 0 ? ['dense', 'sparse'] : ['sparse', 'dense'];
      const outputs = {};
      for (const key of order) {
        const detector = key === 'sparse' ? sparse : dense;
        const h = headTimes(detector, features, imageShapes, proposals);
        times[key].head.push(h.total);
        times[key].after.push(h.after);
        if (key === 'sparse') {
          keptTotal += h.kept.reduce((a, b) => a + b, 0);
        } else {
          cellsTotal += h.cells.reduce((a, b) => a + b, 0);
        }
        const whole = cpuMs(() => detector.predict(batch.images, imageShapes));
        times[key].whole.push(whole.ms);
        outputs[key] = whole.result;
      }
      allSame = allSame && sameDetections(outputs.sparse, outputs.dense);
      imagesTimed += batch.images.shape[0];
      tf.dispose(features);
      tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
      index++;
    }
    const evalLoader = new DetectionDataLoader({
      records,
      batchSize,
      transforms: [normalize()],
      shuffle: false,
    });
    const results = await predictDataset(sparse, evalLoader.batches(), {
      categoryIds: [...val.categoryIds],
    });
    const { stats } = evaluateCoco(groundTruth, results, { proposals });
    const row = {
      model: name,
      threshold,
      keptPerImage: keptTotal / imagesTimed,
      keptFraction: keptTotal / cellsTotal,
      headDense: median(times.dense.head),
      headSparse: median(times.sparse.head),
      afterDense: median(times.dense.after),
      afterSparse: median(times.sparse.after),
      wholeDense: median(times.dense.whole),
      wholeSparse: median(times.sparse.whole),
      // Proposals: AR@100, AR@300, AR@1000; detections: AP, AP50, AR@100.
      metrics: proposals ? [stats[6], stats[7], stats[8]] : [stats[0], stats[1], stats[8]],
      sameDetections: allSame,
    };
    table.push(row);
    console.log(JSON.stringify(row));
    sparse.dispose();
    dense.dispose();
  }
}

const f = (x, d = 1) => x.toFixed(d);
console.log(
  '\n| model | εL | kept locations / image (share) | head after towers: dense → sparse ms (×) | head incl. towers ms (×) | whole model ms (×) | AR / AP | same detections |\n| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
);
for (const r of table) {
  const metric =
    r.model === 'GA-RPN'
      ? `AR@100 ${f(r.metrics[0], 3)}, AR@1000 ${f(r.metrics[2], 3)}`
      : `AP ${f(r.metrics[0], 3)}, AP50 ${f(r.metrics[1], 3)}, AR@100 ${f(r.metrics[2], 3)}`;
  console.log(
    `| ${r.model} | ${r.threshold} | ${f(r.keptPerImage, 0)} (${f(100 * r.keptFraction)} %) | ${f(r.afterDense, 0)} → ${f(r.afterSparse, 0)} (${f(r.afterDense / r.afterSparse, 2)}×) | ${f(r.headDense, 0)} → ${f(r.headSparse, 0)} (${f(r.headDense / r.headSparse, 2)}×) | ${f(r.wholeDense, 0)} → ${f(r.wholeSparse, 0)} (${f(r.wholeDense / r.wholeSparse, 2)}×) | ${metric} | ${r.sameDetections ? 'yes' : 'NO'} |`,
  );
}
