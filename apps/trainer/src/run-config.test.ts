import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bestMetricOf, parseSetting, resolveRunConfig } from './run-config';

const fiveClasses = async () => 5;

describe('--set on optional detector fields', () => {
  it("shows a bad value's own error, and 'no such field' only for a field that does not exist", async () => {
    const settings = (...list: string[]) =>
      resolveRunConfig({ preset: 'tinyGaRpn', settings: list }, fiveClasses);
    const ablation = await settings(
      'head.anchorScheme.components.shape=false',
      'head.anchorScheme.components.featureAdaption=false',
    );
    expect(ablation.detector).toMatchObject({
      head: { anchorScheme: { components: { shape: false, featureAdaption: false } } },
    });
    await expect(settings('head.anchorScheme.components.shape=false')).rejects.toThrow(
      /head\.anchorScheme\.components\.featureAdaption: feature adaption needs the shape branch/,
    );
    // A misspelt key under an existing object is unknown too, not a validation error.
    await expect(settings('train.maxIter=5')).rejects.toThrow(
      /--set detector\.train\.maxIter: no such field \(detector\.train has: baseLr,/,
    );
    await expect(settings('head.anchorScheme.componentz.shape=false')).rejects.toThrow(
      /--set detector\.head\.anchorScheme\.componentz\.shape: no such field \(detector\.head\.anchorScheme has: type, squareScale,/,
    );
  });
});

describe('parseSetting', () => {
  it('reads JSON values and falls back to strings; bare paths address the detector', () => {
    expect(parseSetting('train.maxIters=200')).toEqual({
      path: ['detector', 'train', 'maxIters'],
      value: 200,
    });
    expect(parseSetting('train.steps=[8,11]')).toEqual({
      path: ['detector', 'train', 'steps'],
      value: [8, 11],
    });
    expect(parseSetting('train.optimizer=adam')).toEqual({
      path: ['detector', 'train', 'optimizer'],
      value: 'adam',
    });
    expect(parseSetting('run.evalInterval=50')).toEqual({
      path: ['run', 'evalInterval'],
      value: 50,
    });
  });

  it('refuses a setting without a key', () => {
    expect(() => parseSetting('=3')).toThrow('--set =3: expected key=value');
    expect(() => parseSetting('maxIters')).toThrow('--set maxIters: expected key=value');
  });
});

describe('resolveRunConfig', () => {
  it('expands the demo preset into the tiny RetinaNet with BatchNorm, AdamW 5e-4 and a 600 s session', async () => {
    const config = await resolveRunConfig({ preset: 'demo' }, fiveClasses);
    expect(config.preset).toBe('tinyRetinaNet');
    expect(config.detector).toMatchObject({ kind: 'single-stage', head: { type: 'retina' } });
    // The preset's backbone with only the normalisation changed: torchvision's from-scratch
    // BatchNorm, every block's last γ at 1.
    expect(config.detector.backbone).toMatchObject({
      depth: 18,
      widthMultiplier: 0.25,
      norm: 'batch',
      zeroInitResidual: false,
      normMomentum: 0.1,
      fpnChannels: 32,
    });
    expect(config.detector.train).toMatchObject({
      optimizer: 'adam',
      baseLr: 0.0005,
      maxIters: 1200,
      steps: [960],
    });
    expect(config.run).toMatchObject({ timeSeconds: 600, checkpointInterval: 100 });
    expect(config.data).toEqual({
      train: 'synthetic',
      val: 'synthetic',
      valImages: 200,
      lenient: false,
    });
    expect(bestMetricOf(config)).toBe('AP50');
  });

  it('applies --set after the preset and keeps proposal detectors on AR@100', async () => {
    const config = await resolveRunConfig(
      { preset: 'tinyGaRpn', settings: ['train.maxIters=7', 'data.valImages=3'] },
      fiveClasses,
    );
    expect(config.detector.train.maxIters).toBe(7);
    expect(config.data.valImages).toBe(3);
    expect(bestMetricOf(config)).toBe('AR@100');
  });

  it('names the field and the allowed values of a bad run or data setting', async () => {
    await expect(
      resolveRunConfig({ preset: 'tinyRetinaNet', settings: ['run.bestMetric=mAP'] }, fiveClasses),
    ).rejects.toThrow(
      /run\.bestMetric: Invalid option: expected one of "AP"\|"AP50"\|"AP75"\|"AR@100"/,
    );
    await expect(
      resolveRunConfig({ preset: 'tinyRetinaNet', settings: ['data.shuffle=false'] }, fiveClasses),
    ).rejects.toThrow(/data: Unrecognized key: "shuffle"/);
  });

  it('reads a config file and names its unknown top-level field', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'det-config-'));
    const good = join(directory, 'good.json');
    await writeFile(
      good,
      JSON.stringify({ preset: 'tinyRetinaNet', detector: { train: { maxIters: 9 } } }),
    );
    expect(
      (await resolveRunConfig({ configFile: good }, fiveClasses)).detector.train.maxIters,
    ).toBe(9);
    const bad = join(directory, 'bad.json');
    await writeFile(bad, JSON.stringify({ preset: 'tinyRetinaNet', training: {} }));
    await expect(resolveRunConfig({ configFile: bad }, fiveClasses)).rejects.toThrow(
      `${bad}: unknown top-level field 'training' (allowed: preset, detector, data, run)`,
    );
  });

  it('asks for a preset or a config when given neither', async () => {
    await expect(resolveRunConfig({}, fiveClasses)).rejects.toThrow(
      /give --preset NAME or --config FILE/,
    );
  });
});
