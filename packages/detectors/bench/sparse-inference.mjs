// Guided Anchoring's Table 5 with our columns: sparse vs dense inference of a trained GA-RPN and
// GA-RetinaNet at εL ∈ {0, 0.01, 0.05, 0.1} on the embedded synthetic validation split.
//
// Train the models first (not overfit; the kept fraction of an overfit model is not
// representative), e.g. from the repository root (GA-RPN with AdamW: the tinyGaRpn preset's
// SGD at lr 0.02 can leave its RPN tower dead, every location at the same p; see the
// anchors-guided README):
//   nice -n 10 node apps/trainer/dist/cli.js train --preset tinyGaRpn --name sparse-ga-rpn-adam \
//     --set train.optimizer=adam --set train.baseLr=0.002 --set train.maxIters=1200 --set 'train.steps=[960]'
//   nice -n 10 node apps/trainer/dist/cli.js train --preset tinyGaRetinaNet --name sparse-ga-retinanet
// then (after `pnpm turbo run build --filter=@det/detectors...`):
//   node packages/detectors/bench/sparse-inference.mjs --runs runs/sparse-ga-rpn-adam,runs/sparse-ga-retinanet
//
// Per model: how well the location branch separates the objects' centre regions from the rest
// (mean p, share at p ≥ εL). Per model and εL: kept locations per image (and their share of all
// locations), the positions the feature adaption runs at (kept locations and, for a 3×3 final
// layer, their neighbours), the head's time after the towers (location branch → candidates →
// NMS: what the sparse path changes) split into the adaption and the post-processing, the head
// with the towers, whole-model `predict` time (backbone + head + NMS), sparse vs dense, and COCO
// AR / AP of the sparse path (the dense path's detections are checked to be the same on the
// timed batches). Times are the process's CPU time (wasm, 1 thread by default; with --threads N
// the wall clock; the machine may be shared):
// variants alternate batch by batch (A B B A ...), medians over the timed batches.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  FeatureAdaption,
  LOCATION_IGNORE,
  LOCATION_POSITIVE,
  locationTargets,
} from '@det/anchors-guided';
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
    // wasm threads (the backend's and the deformable conv's helpers); the tables say which.
    threads: { type: 'string', default: '1' },
  },
});
const thresholds = values.thresholds.split(',').map(Number);
const batchSize = Number(values.batch);
const evalImages = Number(values['eval-images']);
const timedBatches = Number(values['timed-batches']);

await initBackend({ backend: 'wasm', wasmThreads: Number(values.threads) });
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

// One thread: the process's CPU time (steadier than the wall clock on a shared machine). More
// threads: the wall clock, since CPU time adds the threads' times up and hides what they save.
const cpuMs = (run) => {
  if (Number(values.threads) > 1) {
    const start = performance.now();
    const result = run();
    return { ms: performance.now() - start, result };
  }
  const start = process.cpuUsage();
  const result = run();
  const used = process.cpuUsage(start);
  return { ms: (used.user + used.system) / 1000, result };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The feature adaption's share of the head (both paths), and where the sparse path runs it:
// the kept locations and, for a k×k final layer, their k×k neighbours (the support).
const adaption = { ms: 0, positions: 0 };
for (const [method, count] of [
  ['apply', (feature) => feature.shape[0] * feature.shape[1] * feature.shape[2]],
  ['applyAt', (_feature, _rows, positions) => positions.length],
]) {
  const original = FeatureAdaption.prototype[method];
  FeatureAdaption.prototype[method] = function (...args) {
    const { ms, result } = cpuMs(() => original.apply(this, args));
    adaption.ms += ms;
    adaption.positions += count(...args);
    return result;
  };
}

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

/**
 * Head time: towers alone; the anchor function (after the towers) with its feature adaption;
 * post-processing (candidates, top-k, NMS).
 */
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
  adaption.ms = 0;
  adaption.positions = 0;
  const infer = cpuMs(() => tf.tidy(() => head.infer(features)));
  const outputs = infer.result;
  const adaptionMs = adaption.ms;
  const adaptionPositions = adaption.positions;
  const post = cpuMs(() =>
    proposals
      ? head.proposals(outputs, imageShapes, detector.output.test)
      : head.predict(outputs, imageShapes, detector.output.test),
  );
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
  const total = infer.ms + post.ms;
  return {
    towers,
    total,
    after: total - towers,
    adaption: adaptionMs,
    adaptionPositions,
    post: post.ms,
    result: post.result,
    kept,
    cells,
  };
}

/**
 * Detections of the two paths are the same up to ties: every detection of one has one of the
 * other with the same score (1e-4) and box (0.01 px). Scores agree to ~1e-7, so detections with
 * equal scores may come in another order (or, for overlapping ties, NMS keep the other one:
 * counted as a difference).
 */
const sameDetections = (a, b) =>
  a.length === b.length &&
  a.every((d, i) => {
    const e = b[i];
    if (d.scores.length !== e.scores.length) return false;
    const used = new Uint8Array(e.scores.length);
    for (let j = 0; j < d.scores.length; j++) {
      let match = -1;
      for (let k = Math.max(0, j - 50); k < Math.min(e.scores.length, j + 51) && match < 0; k++) {
        if (used[k] || Math.abs(d.scores[j] - e.scores[k]) > 1e-4) continue;
        let close = true;
        for (let c = 0; c < 4; c++)
          close = close && Math.abs(d.boxes[4 * j + c] - e.boxes[4 * k + c]) <= 1e-2;
        if (close) match = k;
      }
      if (match < 0) return false;
      used[match] = 1;
    }
    return true;
  });

/**
 * How well the location branch separates the centre regions (CR, positive) from the rest (OR,
 * negative) on the first `batches` validation batches: mean p and the share at p ≥ εL of each,
 * and of all locations. What decides the kept fraction at a given εL.
 */
async function locationSeparation(saved, batches) {
  const detector = variant(saved, { sparseInference: 'never' });
  const scheme = saved.config.head.anchorScheme;
  const strides = detector.head.anchorFunction.strides;
  const groups = { positive: [], negative: [], all: [] };
  const loader = new DetectionDataLoader({
    records,
    batchSize,
    transforms: [normalize()],
    shuffle: false,
  });
  let index = 0;
  for await (const batch of loader.batches()) {
    if (index++ < batches) {
      tf.tidy(() => {
        const outputs = detector.head.forward(
          detector.backbone.apply(batch.images, { training: false }),
        );
        const sizes = outputs.map((o) => o.extras.locLogits.shape.slice(1, 3));
        const labels = locationTargets(batch.gtBoxes, sizes, {
          strides,
          octaveBaseScale: scheme.octaveBaseScale,
          centerRatio: scheme.centerRatio,
          ignoreRatio: scheme.ignoreRatio,
          centerOffset: scheme.centerOffset,
        });
        outputs.forEach((o, level) => {
          const p = tf.sigmoid(o.extras.locLogits).dataSync();
          const label = labels[level].dataSync();
          for (let i = 0; i < p.length; i++) {
            groups.all.push(p[i]);
            if (label[i] === LOCATION_POSITIVE) groups.positive.push(p[i]);
            else if (label[i] !== LOCATION_IGNORE) groups.negative.push(p[i]);
          }
        });
      });
    }
    tf.dispose([batch.images, ...batch.gtBoxes, ...batch.gtLabels, ...batch.gtIgnoreBoxes]);
  }
  detector.dispose();
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const share = (xs, t) => `${((100 * xs.filter((p) => p >= t).length) / xs.length).toFixed(1)} %`;
  for (const [name, xs] of Object.entries(groups)) {
    console.log(
      `  location p, ${name} (${xs.length}): mean ${mean(xs).toFixed(4)}; ≥ ${thresholds.map((t) => `${t}: ${share(xs, t)}`).join(', ')}`,
    );
  }
}

const table = [];
for (const run of values.runs.split(',')) {
  const saved = await loadRun(run);
  const proposals = saved.config.kind === 'single-stage' && saved.config.head.type === 'rpn';
  const name = proposals ? 'GA-RPN' : 'GA-RetinaNet';
  console.log(`${name}: ${saved.file} (iteration ${saved.iteration})`);
  await locationSeparation(saved, timedBatches);
  for (const threshold of thresholds) {
    const sparse = variant(saved, { sparseInference: 'always', locationThreshold: threshold });
    const dense = variant(saved, { sparseInference: 'never', locationThreshold: threshold });
    const times = {
      sparse: { head: [], after: [], whole: [], adaption: [], post: [] },
      dense: { head: [], after: [], whole: [], adaption: [], post: [] },
    };
    let keptTotal = 0;
    let supportTotal = 0;
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
        times[key].adaption.push(h.adaption);
        times[key].post.push(h.post);
        if (key === 'sparse') {
          keptTotal += h.kept.reduce((a, b) => a + b, 0);
          // Positions the adaption ran at, per adaption (GA-RetinaNet has two: cls and reg).
          supportTotal += h.adaptionPositions / (detector.head.regTower ? 2 : 1);
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
      supportFraction: supportTotal / cellsTotal,
      adaptionDense: median(times.dense.adaption),
      adaptionSparse: median(times.sparse.adaption),
      postDense: median(times.dense.post),
      postSparse: median(times.sparse.post),
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
const ratio = (a, b) => (b > 0 ? `${f(a / b, 2)}×` : '—');
console.log(
  '\n| model | εL | kept locations / image (share) | adaption support (share) | head after towers: dense → sparse ms (×) | of which adaption ms | of which post-processing ms | head incl. towers ms (×) | whole model ms (×) | AR / AP | same detections |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
);
for (const r of table) {
  const metric =
    r.model === 'GA-RPN'
      ? `AR@100 ${f(r.metrics[0], 3)}, AR@1000 ${f(r.metrics[2], 3)}`
      : `AP ${f(r.metrics[0], 3)}, AP50 ${f(r.metrics[1], 3)}, AR@100 ${f(r.metrics[2], 3)}`;
  console.log(
    `| ${r.model} | ${r.threshold} | ${f(r.keptPerImage, 0)} (${f(100 * r.keptFraction)} %) | ${f(100 * r.supportFraction)} % | ${f(r.afterDense, 0)} → ${f(r.afterSparse, 0)} (${ratio(r.afterDense, r.afterSparse)}) | ${f(r.adaptionDense, 0)} → ${f(r.adaptionSparse, 0)} | ${f(r.postDense, 0)} → ${f(r.postSparse, 0)} | ${f(r.headDense, 0)} → ${f(r.headSparse, 0)} (${ratio(r.headDense, r.headSparse)}) | ${f(r.wholeDense, 0)} → ${f(r.wholeSparse, 0)} (${ratio(r.wholeDense, r.wholeSparse)}) | ${metric} | ${r.sameDetections ? 'yes' : 'NO'} |`,
  );
}
