import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@det/core';
import { loadExportedDetector } from '@det/detectors';
import { disposeCheckpoint, readCheckpoint } from '@det/train';
import { beforeAll, describe, expect, it } from 'vitest';
import { det } from './det-binary';

/** Every subcommand of the built `det` on 64 px synthetic images and a few steps. */
describe('det (built binary)', () => {
  let cwd: string;
  let data: string[];

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'det-e2e-'));
    const synth = await det(
      ['synth', '--out', 'data', '--train', '4', '--val', '2', '--width', '64', '--height', '64'],
      cwd,
    );
    expect(synth.code, synth.stderr).toBe(0);
    expect(synth.stdout).toContain('train: 4 images');
    data = [
      '--annotations',
      'data/annotations/instances_train.json',
      '--images',
      'data/train',
      '--val-annotations',
      'data/annotations/instances_val.json',
      '--val-images',
      'data/val',
    ];
  }, 60_000);

  it('train writes the run folder and prints the COCO table and the report path; rerun resumes', async () => {
    const first = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        ...data,
        '--name',
        'tiny',
        '--resume',
        '--set',
        'train.maxIters=3',
        '--set',
        'train.warmupIters=1',
        '--set',
        'run.checkpointInterval=2',
      ],
      cwd,
    );
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(
      'Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]',
    );
    expect(first.stdout).toContain('trained to iteration 3: reached maxIters 3');
    expect(first.stdout).toContain(`report: ${join('runs', 'tiny', 'report.html')}`);
    const run = join(cwd, 'runs', 'tiny');
    for (const file of [
      'config.json',
      'log.jsonl',
      'metrics.csv',
      'report.html',
      'checkpoints/last.safetensors',
      'checkpoints/last.json',
      'checkpoints/best.safetensors',
      'plots/losses.svg',
      'plots/losses.png',
      'plots/precision-recall.svg',
      'plots/val-grid.png',
    ])
      expect(existsSync(join(run, file)), file).toBe(true);
    const log = (await readFile(join(run, 'log.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(log.map((line) => line.iteration)).toEqual([0, 1, 2]);
    expect(Object.keys(log[0])).toEqual([
      'iteration',
      'losses',
      'lr',
      'gradNorm',
      'seconds',
      'stepSeconds',
      'imagesPerSecond',
      'tensors',
      'heapBytes',
    ]);
    expect((await readFile(join(run, 'metrics.csv'), 'utf8')).split('\n')[0]).toBe(
      'iteration,seconds,AP,AP50,AP75,APs,APm,APl,AR1,AR10,AR100,ARs,ARm,ARl',
    );
    const html = await readFile(join(run, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('data:image/png;base64,');
    // Offline: nothing fetched from elsewhere.
    expect(html).not.toMatch(/(src|href)="https?:/);

    const again = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        ...data,
        '--name',
        'tiny',
        '--resume',
        '--set',
        'train.maxIters=5',
      ],
      cwd,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('resuming from runs/tiny/checkpoints/last.safetensors');
    expect(again.stdout).toContain('resumed at 3, trained to iteration 5');
  }, 120_000);

  it('eval prints the table and per-class AP', async () => {
    const result = await det(['eval', '--run', 'tiny'], cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /evaluating runs\/tiny\/checkpoints\/(best|last)\.safetensors \(iteration \d\) on 2 val images/,
    );
    expect(result.stdout).toContain(
      'Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]',
    );
    expect(result.stdout).toContain('per-class AP:');
  }, 60_000);

  it('predict writes COCO results and drawn images for a folder and for a split', async () => {
    const folder = await det(
      ['predict', '--run', 'tiny', '--input', 'data/val', '--out', 'pred', '--score', '0'],
      cwd,
    );
    expect(folder.code, folder.stderr).toBe(0);
    const results = JSON.parse(await readFile(join(cwd, 'pred', 'results.json'), 'utf8'));
    expect(Array.isArray(results)).toBe(true);
    expect((await readdir(join(cwd, 'pred'))).sort()).toEqual([
      '000001.png',
      '000002.png',
      'results.json',
    ]);
    const split = await det(
      [
        'predict',
        '--checkpoint',
        'runs/tiny/checkpoints/last.safetensors',
        '--split',
        'val',
        '--out',
        'pred-val',
      ],
      cwd,
    );
    expect(split.code, split.stderr).toBe(0);
    expect(split.stdout).toMatch(/\d+ detections on 2 image\(s\)/);
  }, 60_000);

  it('export writes model.safetensors + model.json that loadExportedDetector reads', async () => {
    const result = await det(['export', '--run', 'tiny'], cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /single-stage model \(5 classes, iteration \d, \d+ KiB\) → runs\/tiny\/export\/model.safetensors \+ model.json/,
    );
    const info = JSON.parse(await readFile(join(cwd, 'runs/tiny/export/model.json'), 'utf8'));
    expect(info.format).toBe('det-model');
    expect(info.classNames).toEqual(['rectangle', 'ellipse', 'triangle', 'bar', 'ring']);
    expect(info.categoryIds).toEqual([1, 2, 3, 4, 5]);
    expect(info.source.checkpoint).toMatch(/^runs\/tiny\/checkpoints\/(best|last)\.safetensors$/);
    const bytes = new Uint8Array(await readFile(join(cwd, 'runs/tiny/export/model.safetensors')));
    await initBackend({ backend: 'cpu' });
    const saved = await readCheckpoint(join(cwd, info.source.checkpoint));
    expect(saved.state.iteration).toBe(info.source.iteration);
    const { detector } = await loadExportedDetector(bytes, info);
    try {
      expect(detector.parameters.entries().length).toBe(saved.parameters.size);
      for (const [name, value] of saved.parameters) {
        expect(Array.from(detector.parameters.get(name).dataSync()), name).toEqual(
          Array.from(value.dataSync()),
        );
      }
    } finally {
      detector.dispose();
      disposeCheckpoint(saved);
    }
  }, 60_000);

  it('report rebuilds the report', async () => {
    const result = await det(['report', '--run', 'tiny'], cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(join('runs', 'tiny', 'report.html'));
  }, 60_000);

  it('search-anchors runs MetaAnchor search on a MetaAnchor checkpoint and saves the set', async () => {
    const train = await det(
      [
        'train',
        '--preset',
        'metaRetinanetTiny',
        ...data,
        '--name',
        'meta',
        '--set',
        'train.maxIters=1',
      ],
      cwd,
    );
    expect(train.code, train.stderr).toBe(0);
    expect(existsSync(join(cwd, 'runs', 'meta', 'plots', 'anchor-aspect-ratios.svg'))).toBe(true);
    const search = await det(
      ['search-anchors', '--run', 'meta', '--steps', '2', '--limit', '2'],
      cwd,
    );
    expect(search.code, search.stderr).toBe(0);
    // MetaAnchor §4.1.2: the search runs on a subset of the TRAINING images by default.
    expect(search.stdout).toContain(
      'searching 2 candidate anchors on 2 train images (train-subset) by AP',
    );
    const saved = JSON.parse(await readFile(join(cwd, 'runs', 'meta', 'anchors.json'), 'utf8'));
    expect(saved.trace).toHaveLength(2);
    expect(saved.searchData).toBe('train-subset');
    // The evaluation split is refused without the explicit flag, and warned about with it.
    const evalSplit = ['search-anchors', '--run', 'meta', '--steps', '1', '--limit', '1'];
    const refused = await det([...evalSplit, '--search-data', 'evaluation-split'], cwd);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toContain('refused without --allow-evaluation-split');
    const allowed = await det(
      [...evalSplit, '--search-data', 'evaluation-split', '--allow-evaluation-split'],
      cwd,
    );
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain('on 1 val images (evaluation-split)');
    expect(allowed.stdout).toContain(
      "WARNING: searchAnchorConfiguration: searchData is 'evaluation-split'",
    );
    const wrong = await det(
      ['search-anchors', '--run', 'tiny', '--steps', '1', '--limit', '1'],
      cwd,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('has no MetaAnchor anchor functions');
  }, 120_000);

  it('eval --set changes inference-time fields (MetaAnchor inference anchors) and --count-anchors counts them', async () => {
    // 64² input, P3–P7: 8² + 4² + 2² + 1 + 1 = 86 locations, n × n anchors at each.
    const three = await det(
      [
        'eval',
        '--run',
        'meta',
        '--count-anchors',
        '--set',
        'head.anchorScheme.inferenceAnchors="3x3"',
      ],
      cwd,
    );
    expect(three.code, three.stderr).toBe(0);
    expect(three.stdout).toContain('anchors per image: 774.0');
    const five = await det(
      [
        'eval',
        '--run',
        'meta',
        '--count-anchors',
        '--out',
        'five.json',
        '--set',
        'head.anchorScheme.inferenceAnchors="5x5"',
      ],
      cwd,
    );
    expect(five.code, five.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(cwd, 'five.json'), 'utf8')).anchorsPerImage).toBe(
      86 * 25,
    );
    const notGuided = await det(['eval', '--run', 'meta', '--time-head', '2'], cwd);
    expect(notGuided.code).toBe(1);
    expect(notGuided.stderr).toContain(
      "--time-head: the model's head has no Guided Anchoring anchor scheme (meta)",
    );
    // Refused before evaluating, not after.
    expect(notGuided.stdout).not.toContain('Average Precision');
    const notDetector = await det(['eval', '--run', 'meta', '--set', 'run.evalInterval=1'], cwd);
    expect(notDetector.code).toBe(1);
    expect(notDetector.stderr).toContain('--set run.evalInterval=1: only detector fields');
    const reshaped = await det(['eval', '--run', 'meta', '--set', 'head.featChannels=8'], cwd);
    expect(reshaped.code).toBe(1);
    expect(reshaped.stderr).toMatch(/shape|featChannels|parameter/);
  }, 120_000);

  it('SIGTERM writes a checkpoint and exits cleanly; --resume continues from it', async () => {
    let signalled = false;
    const first = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        ...data,
        '--name',
        'term',
        '--set',
        'train.maxIters=1000',
        '--set',
        'run.logInterval=1',
      ],
      cwd,
      (line, kill) => {
        if (!signalled && line.includes('iter 2/1000')) {
          signalled = true;
          kill('SIGTERM');
        }
      },
    );
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('SIGTERM: stopping after this step and writing a checkpoint');
    const stopped = Number(/trained to iteration (\d+): interrupted/.exec(first.stdout)?.[1]);
    expect(stopped).toBeGreaterThanOrEqual(2);
    const sidecar = JSON.parse(
      await readFile(join(cwd, 'runs', 'term', 'checkpoints', 'last.json'), 'utf8'),
    );
    expect(sidecar.state.iteration).toBe(stopped);
    const resumed = await det(
      ['train', '--name', 'term', '--resume', '--set', `train.maxIters=${stopped + 1}`],
      cwd,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`resumed at ${stopped}, trained to iteration ${stopped + 1}`);
    // The same run without the interruption ends with the same weights (data order,
    // augmentation, optimizer state and schedule all resumed).
    const straight = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        ...data,
        '--name',
        'straight',
        '--set',
        `train.maxIters=${stopped + 1}`,
      ],
      cwd,
    );
    expect(straight.code, straight.stderr).toBe(0);
    await initBackend({ backend: 'cpu' });
    const a = await readCheckpoint(join(cwd, 'runs', 'term', 'checkpoints', 'last'));
    const b = await readCheckpoint(join(cwd, 'runs', 'straight', 'checkpoints', 'last'));
    expect(a.state.iteration).toBe(b.state.iteration);
    let largest = 0;
    for (const [name, tensor] of b.parameters) {
      const expected = tensor.dataSync();
      const actual = a.parameters.get(name)!.dataSync();
      for (let i = 0; i < expected.length; i++)
        largest = Math.max(largest, Math.abs(actual[i]! - expected[i]!));
    }
    expect(largest).toBeLessThanOrEqual(1e-6);
    disposeCheckpoint(a);
    disposeCheckpoint(b);
  }, 180_000);

  it('bad input names the thing at fault', async () => {
    const optimizer = await det(
      ['train', '--preset', 'tinyRetinaNet', ...data, '--set', 'train.optimizer=rmsprop'],
      cwd,
    );
    expect(optimizer.code).toBe(1);
    expect(optimizer.stderr).toContain(
      'train.optimizer: Invalid option: expected one of "sgd"|"adam"',
    );
    const typo = await det(
      ['train', '--preset', 'tinyRetinaNet', ...data, '--set', 'train.maxIter=5'],
      cwd,
    );
    expect(typo.stderr).toContain(
      '--set detector.train.maxIter: no such field (detector.train has: baseLr,',
    );
    const run = await det(
      ['train', '--preset', 'tinyRetinaNet', ...data, '--set', 'run.evalInterval=-1'],
      cwd,
    );
    expect(run.stderr).toContain('run.evalInterval: Too small: expected number to be >=0');

    const instances = JSON.parse(
      await readFile(join(cwd, 'data/annotations/instances_train.json'), 'utf8'),
    );
    await writeFile(join(cwd, 'broken.json'), '{"images": [{"id": 1,, }]}');
    const broken = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        '--annotations',
        'broken.json',
        '--images',
        'data/train',
      ],
      cwd,
    );
    expect(broken.stderr).toContain(
      'broken.json: Expected double-quoted property name in JSON at position 21',
    );

    instances.images[1].file_name = 'missing.png';
    await writeFile(join(cwd, 'missing.json'), JSON.stringify(instances));
    const missing = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        '--annotations',
        'missing.json',
        '--images',
        'data/train',
      ],
      cwd,
    );
    expect(missing.stderr).toContain(
      `image ${instances.images[1].id}, field 'file_name': 'missing.png' does not exist`,
    );
    const lenient = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        '--annotations',
        'missing.json',
        '--images',
        'data/train',
        '--lenient',
        '--name',
        'lenient',
        '--set',
        'train.maxIters=1',
        '--set',
        'data.valImages=1',
      ],
      cwd,
    );
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(lenient.stdout).toMatch(/train: skipped 1 image\(s\)/);
    expect(await readFile(join(cwd, 'runs', 'lenient', 'report.html'), 'utf8')).toMatch(
      /train: skipped 1 image\(s\)/,
    );

    instances.images[1].file_name = '../../escape.png';
    await writeFile(join(cwd, 'escape.json'), JSON.stringify(instances));
    const escaping = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        '--annotations',
        'escape.json',
        '--images',
        'data/train',
      ],
      cwd,
    );
    expect(escaping.stderr).toContain(
      "field 'file_name': '../../escape.png' resolves outside the image root",
    );

    const architecture = await det(
      [
        'train',
        '--name',
        'tiny',
        '--resume',
        '--set',
        'head.featChannels=16',
        '--set',
        'train.maxIters=6',
      ],
      cwd,
    );
    expect(architecture.code).toBe(1);
    expect(architecture.stderr).toMatch(
      /last\.safetensors: parameter '[^']+' is \[[\d,]+\] in the checkpoint but \[[\d,]+\] in the model/,
    );
  }, 180_000);

  it('a non-finite loss stops training, naming the iteration, and keeps the last good checkpoint', async () => {
    const result = await det(
      [
        'train',
        '--preset',
        'tinyRetinaNet',
        ...data,
        '--name',
        'nan',
        '--set',
        'train.optimizer=adam',
        '--set',
        'train.baseLr=1e12',
        '--set',
        'train.maxIters=4',
        '--set',
        'run.checkpointInterval=1',
      ],
      cwd,
    );
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(
      /error: non-finite (gradient norm|loss term '\w+') \(\w+\) at iteration 1; stopped without a checkpoint/,
    );
    const sidecar = JSON.parse(
      await readFile(join(cwd, 'runs', 'nan', 'checkpoints', 'last.json'), 'utf8'),
    );
    expect(sidecar.state.iteration).toBe(1);
  }, 60_000);
  it('Fast R-CNN trains and evaluates on --proposals files; a missing file or image is named', async () => {
    interface Instances {
      images: { id: number; file_name: string }[];
      annotations: { image_id: number; bbox: [number, number, number, number] }[];
    }
    const instances = async (split: string) =>
      JSON.parse(
        await readFile(join(cwd, `data/annotations/instances_${split}.json`), 'utf8'),
      ) as Instances;
    // Three shifted copies of each ground-truth box and the whole image, per image.
    const proposalsOf = ({ images, annotations }: Instances) => [
      ...annotations.flatMap(({ image_id, bbox: [x, y, w, h] }) =>
        [0, 1, 2].map((k) => ({ image_id, bbox: [x + k, y - k, w + 2 * k, h], score: 1 - k / 10 })),
      ),
      ...images.map((image) => ({ image_id: image.id, bbox: [0, 0, 64, 64], score: 0.1 })),
    ];
    const train = await instances('train');
    await writeFile(join(cwd, 'train-proposals.json'), JSON.stringify(proposalsOf(train)));
    await writeFile(
      join(cwd, 'val-proposals.json'),
      JSON.stringify(proposalsOf(await instances('val'))),
    );
    const lacking = train.images[2]!;
    await writeFile(
      join(cwd, 'partial-proposals.json'),
      JSON.stringify(proposalsOf(train).filter((entry) => entry.image_id !== lacking.id)),
    );
    const fast = ['train', '--preset', 'tinyFastRcnn', ...data];

    const none = await det([...fast, '--name', 'fast-none'], cwd);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(
      "proposals.type 'precomputed' (Fast R-CNN) needs precomputed proposals: give --proposals FILE",
    );
    const absent = await det([...fast, '--proposals', 'absent.json'], cwd);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain('absent.json: cannot read the proposals file (ENOENT');
    const partial = await det([...fast, '--proposals', 'partial-proposals.json'], cwd);
    expect(partial.code).toBe(1);
    expect(partial.stderr).toContain(
      `partial-proposals.json: no proposals for image id ${lacking.id} ('${lacking.file_name}') of the train split`,
    );
    const retina = await det(
      ['train', '--preset', 'tinyRetinaNet', ...data, '--proposals', 'train-proposals.json'],
      cwd,
    );
    expect(retina.code).toBe(1);
    expect(retina.stderr).toContain(
      "--proposals (data.proposals): only a detector with proposals.type 'precomputed' (Fast R-CNN) takes precomputed proposals; this one is single-stage with head.type 'retina'",
    );

    const trained = await det(
      [
        ...fast,
        '--proposals',
        'train-proposals.json',
        '--val-proposals',
        'val-proposals.json',
        '--name',
        'fast',
        '--set',
        'train.maxIters=2',
        '--set',
        'train.warmupIters=1',
      ],
      cwd,
    );
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stdout).toContain('two-stage (tinyFastRcnn)');
    expect(trained.stdout).toContain('trained to iteration 2: reached maxIters 2');
    expect(trained.stdout).toContain(
      'Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]',
    );
    const config = JSON.parse(await readFile(join(cwd, 'runs', 'fast', 'config.json'), 'utf8'));
    expect(config.data.proposals).toEqual({
      train: 'train-proposals.json',
      val: 'val-proposals.json',
    });
    const log = (await readFile(join(cwd, 'runs', 'fast', 'log.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(log.map((line) => line.iteration)).toEqual([0, 1]);
    expect(Object.keys(log[0].losses)).toEqual(expect.arrayContaining(['loss_cls', 'loss_bbox']));
    for (const line of log)
      for (const value of Object.values(line.losses)) expect(Number.isFinite(value)).toBe(true);

    // eval takes the run's proposals, or --proposals instead.
    const evaluated = await det(['eval', '--run', 'fast'], cwd);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toMatch(
      /evaluating runs\/fast\/checkpoints\/(best|last)\.safetensors \(iteration 2\) on 2 val images/,
    );
    expect(evaluated.stdout).toContain('per-class AP:');
    const onTrain = await det(
      ['eval', '--run', 'fast', '--split', 'train', '--proposals', 'partial-proposals.json'],
      cwd,
    );
    expect(onTrain.code).toBe(1);
    expect(onTrain.stderr).toContain(
      `partial-proposals.json: no proposals for image id ${lacking.id} ('${lacking.file_name}') of the train split`,
    );
  }, 180_000);
});
