import { mkdtemp, readFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegression, regressionData } from '../test/fixtures/regression.mjs';
import { disposeCheckpoint, loadParameters, readCheckpoint, saveCheckpoint } from './checkpoint';
import { type TrainingHook, type TrainLoopOptions, trainLoop } from './loop';
import { createOptimizer, type OptimizerOptions } from './optimizer';
import type { Trainable } from './trainable';
import { Trainer } from './trainer';

interface RegressionBatch {
  x: tf.Tensor2D;
  y: tf.Tensor2D;
}

const optimizerOptions: OptimizerOptions = {
  kind: 'sgd',
  momentum: 0.9,
  weightDecay: 1e-3,
};

function makeTrainer(model: Trainable<RegressionBatch>) {
  return new Trainer<RegressionBatch>({
    model,
    optimizer: createOptimizer(optimizerOptions),
    schedule: { baseLr: 0.05, policy: 'step', warmupIters: 3, warmupRatio: 0.1, steps: [8] },
    gradClipNorm: 5,
  });
}

async function run(
  options: Partial<TrainLoopOptions<RegressionBatch>> & { maxIters: number },
  model = createRegression() as Trainable<RegressionBatch>,
) {
  const trainer = makeTrainer(model);
  const data = regressionData();
  const outcome = await trainLoop({ trainer, data, optimizerOptions, ...options });
  const weights = model.parameters.entries().map((entry) => Array.from(entry.variable.dataSync()));
  trainer.dispose();
  tf.dispose([...model.parameters.entries().map((entry) => entry.variable), data.truth]);
  return { outcome, weights };
}

const temporary = () => mkdtemp(join(tmpdir(), 'det-train-'));

describe('trainLoop', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('learns, and a run stopped and resumed ends with the same weights (1e-6)', async () => {
    const before = tf.memory().numTensors;
    const straight = await run({ maxIters: 12 });
    expect(straight.outcome.stopped).toBe('max-iters');
    expect(straight.outcome.lastLosses!.loss!).toBeLessThan(0.5);
    const directory = await temporary();
    const checkpoint = { directory, interval: 100 };
    const controller = new AbortController();
    const stopAtFive: TrainingHook<RegressionBatch> = {
      afterStep: (_, report) => {
        if (report.iteration === 4) controller.abort();
      },
    };
    const first = await run({
      maxIters: 12,
      checkpoint,
      hooks: [stopAtFive],
      signal: controller.signal,
    });
    expect(first.outcome.stopped).toBe('interrupted');
    expect(first.outcome.iterations).toBe(5);
    const resumed = await run({ maxIters: 12, checkpoint, resume: true });
    expect(resumed.outcome.resumedFrom).toBe(5);
    expect(resumed.outcome.iterations).toBe(12);
    resumed.weights.forEach((values, index) => {
      values.forEach((value, i) => {
        expect(Math.abs(value - straight.weights[index]![i]!)).toBeLessThanOrEqual(1e-6);
      });
    });
    // Without the model's random state the noise would differ and so would the weights.
    expect(resumed.weights).toEqual(straight.weights);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops on a non-finite loss naming step and term, keeping the last good checkpoint', async () => {
    const directory = await temporary();
    const model = createRegression() as Trainable<RegressionBatch>;
    let calls = 0;
    const diverging: Trainable<RegressionBatch> = {
      parameters: model.parameters,
      losses: (batch) => {
        const losses = model.losses(batch);
        calls += 1;
        if (calls < 7) return losses;
        const bad = tf.mul(losses.loss_abs!, Number.POSITIVE_INFINITY) as tf.Scalar;
        losses.loss_abs!.dispose();
        return { ...losses, loss_abs: bad };
      },
    };
    const { outcome } = await run(
      { maxIters: 20, checkpoint: { directory, interval: 4 } },
      diverging,
    );
    expect(outcome.stopped).toBe('non-finite-loss');
    expect(outcome.iterations).toBe(6);
    expect(outcome.nonFinite).toMatchObject({ iteration: 6, term: 'loss_abs', value: Infinity });
    expect(outcome.nonFinite!.message).toBe(
      "non-finite loss term 'loss_abs' (Infinity) at iteration 6; stopped without a checkpoint, the last good one is kept",
    );
    const saved = await readCheckpoint(join(directory, 'last'));
    expect(saved.state.iteration).toBe(4);
    disposeCheckpoint(saved);
  });

  it('evaluates on its interval, keeps the best checkpoint and calls hooks in order', async () => {
    const directory = await temporary();
    const events: string[] = [];
    const scores = [0.2, 0.5, 0.3];
    const { outcome } = await run({
      maxIters: 6,
      checkpoint: { directory, interval: 3, config: { kind: 'regression' } },
      evaluation: {
        interval: 2,
        bestMetric: 'score',
        evaluate: async (context) => ({ score: scores[context.trainer.iteration / 2 - 1]! }),
      },
      hooks: [
        {
          beforeStep: (context) => {
            events.push(`before ${context.trainer.iteration}`);
          },
          afterEval: (_, metrics) => {
            events.push(`eval ${metrics.score}`);
          },
          afterCheckpoint: (context, _, kind) => {
            events.push(`${kind} ${context.trainer.iteration}`);
          },
          afterTraining: (_, result) => {
            events.push(`end ${result.stopped}`);
          },
        },
      ],
    });
    expect(events).toEqual([
      'before 0',
      'before 1',
      'eval 0.2',
      'best 2',
      'before 2',
      'last 3',
      'before 3',
      'eval 0.5',
      'best 4',
      'before 4',
      'before 5',
      'eval 0.3',
      'last 6',
      'end max-iters',
    ]);
    expect(outcome.best).toEqual({ metric: 'score', value: 0.5, iteration: 4 });
    const best = await readCheckpoint(join(directory, 'best'));
    expect(best.state.iteration).toBe(4);
    expect(best.config).toEqual({ kind: 'regression' });
    disposeCheckpoint(best);
    const sidecar = JSON.parse(await readFile(join(directory, 'last.json'), 'utf8'));
    expect(sidecar.state.best).toEqual({ metric: 'score', value: 0.5, iteration: 4 });
    expect(sidecar.state.optimizer).toEqual({ ...optimizerOptions, step: 6 });
  });

  it('a spent time budget stops after the step that reached it, with a checkpoint', async () => {
    const directory = await temporary();
    const { outcome } = await run({
      maxIters: 10,
      timeBudgetSeconds: 0,
      checkpoint: { directory, interval: 100 },
    });
    expect(outcome).toMatchObject({ stopped: 'time-budget', iterations: 1 });
    const saved = await readCheckpoint(join(directory, 'last'));
    expect(saved.state.iteration).toBe(1);
    expect(saved.state.dataPosition).toBe(1);
    disposeCheckpoint(saved);
  });

  it('a run that has reached maxIters does not step again', async () => {
    const directory = await temporary();
    await run({ maxIters: 2, checkpoint: { directory, interval: 1 } });
    const again = await run({ maxIters: 2, checkpoint: { directory, interval: 1 }, resume: true });
    expect(again.outcome).toMatchObject({ stopped: 'max-iters', iterations: 2, resumedFrom: 2 });
    expect(again.outcome.lastLosses).toBeUndefined();
  });
});

describe('checkpoints', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  async function written() {
    const directory = await temporary();
    await run({ maxIters: 2, checkpoint: { directory, interval: 1 } });
    return join(directory, 'last');
  }

  it('holds the optimizer state under its honest names', async () => {
    const saved = await readCheckpoint(await written());
    expect(saved.optimizer.kind).toBe('sgd');
    expect(saved.optimizer.step).toBe(2);
    expect([...saved.optimizer.slots.keys()]).toEqual([
      'momentum_buffer.linear.weight',
      'momentum_buffer.linear.bias',
    ]);
    expect([...saved.parameters.keys()]).toEqual(['linear.weight', 'linear.bias']);
    disposeCheckpoint(saved);
  });

  it('a truncated file is refused by name', async () => {
    const base = await written();
    await truncate(`${base}.safetensors`, 200);
    await expect(readCheckpoint(base)).rejects.toThrow(
      new RegExp(`corrupt or truncated checkpoint: ${base}.safetensors: .*(truncated|exceeds)`),
    );
  });

  it('a flipped byte in the tensor data fails the checksum, naming the file', async () => {
    const base = await written();
    const bytes = await readFile(`${base}.safetensors`);
    bytes[bytes.length - 3]! ^= 0x40;
    await writeFile(`${base}.safetensors`, bytes);
    await expect(readCheckpoint(base)).rejects.toThrow(
      `${base}.safetensors: corrupt checkpoint: tensor checksum`,
    );
  });

  it('a checkpoint of another architecture names the first mismatched parameter', async () => {
    const saved = await readCheckpoint(await written());
    const other = new ParameterStore();
    other.create('linear.weight', tf.zeros([4, 3]));
    other.create('linear.bias', tf.zeros([3]));
    expect(() => loadParameters(other, saved.parameters, 'last.safetensors')).toThrow(
      "last.safetensors: parameter 'linear.weight' is [4,2] in the checkpoint but [4,3] in the model (another architecture?)",
    );
    const renamed = new ParameterStore();
    renamed.create('head.weight', tf.zeros([4, 2]));
    expect(() => loadParameters(renamed, saved.parameters, 'x')).toThrow(
      "x: the model's parameter 'head.weight' [4,2] is not in the checkpoint",
    );
    tf.dispose([...other.entries(), ...renamed.entries()].map((entry) => entry.variable));
    disposeCheckpoint(saved);
  });

  it('ignoreUnused loads a smaller model and names what it dropped; missing ones still fail', async () => {
    const saved = await readCheckpoint(await written());
    const smaller = new ParameterStore();
    smaller.create('linear.weight', tf.zeros([4, 2]));
    expect(() => loadParameters(smaller, saved.parameters, 'x')).toThrow(
      "x: the checkpoint's parameter 'linear.bias' is not in the model",
    );
    expect(loadParameters(smaller, saved.parameters, 'x', { ignoreUnused: true })).toEqual([
      'linear.bias',
    ]);
    expect(Array.from(smaller.entries()[0]!.variable.dataSync())).toEqual(
      Array.from(saved.parameters.get('linear.weight')!.dataSync()),
    );
    const larger = new ParameterStore();
    larger.create('extra.weight', tf.zeros([1]));
    expect(() => loadParameters(larger, saved.parameters, 'x', { ignoreUnused: true })).toThrow(
      "x: the model's parameter 'extra.weight' [1] is not in the checkpoint",
    );
    tf.dispose([...smaller.entries(), ...larger.entries()].map((entry) => entry.variable));
    disposeCheckpoint(saved);
  });

  it('round-trips an empty model', async () => {
    const base = join(await temporary(), 'empty');
    const state = {
      iteration: 0,
      dataPosition: null,
      elapsedSeconds: 0,
      optimizer: { ...optimizerOptions, step: 0 },
      schedule: { baseLr: 1, policy: 'step' as const, warmupIters: 0, warmupRatio: 0 },
    };
    await saveCheckpoint(base, {
      parameters: new ParameterStore(),
      optimizer: { kind: 'sgd', step: 0, slots: new Map() },
      state,
    });
    const saved = await readCheckpoint(base);
    expect(saved.parameters.size).toBe(0);
    expect(saved.state).toEqual(state);
    expect(saved.config).toBeNull();
  });
});
