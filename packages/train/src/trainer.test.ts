import { initBackend, ParameterStore } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOptimizer } from './optimizer';
import { Trainer } from './trainer';

interface Batch {
  x: tf.Tensor2D;
}

/** loss = mean((x·w)²) + 0.5·b² with a frozen `scale` that must never move. */
function model(lossScale = 1) {
  const parameters = new ParameterStore();
  const weight = parameters.create('w', tf.tensor2d([[1], [2]]));
  const bias = parameters.create('b', tf.scalar(3));
  parameters.create('scale', tf.scalar(5), { trainable: false });
  return {
    parameters,
    losses: (batch: Batch) => ({
      loss_fit: tf.mul(tf.mean(tf.square(tf.matMul(batch.x, weight))), lossScale) as tf.Scalar,
      loss_bias: tf.mul(tf.square(bias), 0.5) as tf.Scalar,
    }),
  };
}

function trainerOf(trainable: ReturnType<typeof model>, gradClipNorm = 0) {
  return new Trainer<Batch>({
    model: trainable,
    optimizer: createOptimizer({ kind: 'sgd', momentum: 0, weightDecay: 0 }),
    schedule: { baseLr: 0.1, policy: 'step', warmupIters: 0, warmupRatio: 1 },
    gradClipNorm,
  });
}

describe('Trainer.step', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  it('reports each loss and their sum, takes one SGD step on trainable parameters only, leaks nothing', () => {
    const trainable = model();
    const trainer = trainerOf(trainable);
    const x = tf.tensor2d([[1, 0]]);
    const before = tf.memory().numTensors;
    const result = trainer.step({ x });
    // loss_fit = (1·1)² = 1, loss_bias = 4.5; d/dw = 2·(x·w)·x = [2, 0], d/db = b = 3.
    expect(result.losses).toEqual({ loss: 5.5, loss_fit: 1, loss_bias: 4.5 });
    expect(result.gradNorm).toBeCloseTo(Math.sqrt(4 + 9), 6);
    expect(result).toMatchObject({ iteration: 0, learningRate: 0.1, finite: true });
    expect(Array.from(trainable.parameters.get('w').dataSync())).toEqual([
      expect.closeTo(0.8, 6),
      2,
    ]);
    expect(trainable.parameters.get('b').dataSync()[0]).toBeCloseTo(2.7, 6);
    expect(trainable.parameters.get('scale').dataSync()[0]).toBe(5);
    expect(trainer.iteration).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    trainer.dispose();
  });

  it('clips the global gradient norm', () => {
    const trainable = model();
    const trainer = trainerOf(trainable, 1);
    const x = tf.tensor2d([[1, 0]]);
    trainer.step({ x });
    // The gradient [2, 0, 3] scaled to norm 1 (factor 1/(√13 + 1e-6)).
    const factor = 1 / (Math.sqrt(13) + 1e-6);
    expect(trainable.parameters.get('w').dataSync()[0]).toBeCloseTo(1 - 0.1 * 2 * factor, 6);
    expect(trainable.parameters.get('b').dataSync()[0]).toBeCloseTo(3 - 0.1 * 3 * factor, 6);
    x.dispose();
    trainer.dispose();
  });

  it('names the non-finite loss term and changes nothing', () => {
    const trainable = model(Number.NaN);
    const trainer = trainerOf(trainable);
    const x = tf.tensor2d([[1, 0]]);
    const result = trainer.step({ x });
    expect(result.finite).toBe(false);
    expect(result.nonFiniteTerm).toBe('loss_fit');
    expect(trainer.iteration).toBe(0);
    expect(Array.from(trainable.parameters.get('w').dataSync())).toEqual([1, 2]);
    expect(trainer.optimizer.stepCount).toBe(0);
    x.dispose();
    trainer.dispose();
  });
});

describe('Trainer.stepAsync', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu' });
  });

  /** The toy model with a prepare phase: `prepareLosses` reads x back; `losses` uses the result. */
  function preparedModel() {
    const base = model();
    const calls: string[] = [];
    let live = 0;
    return {
      calls,
      live: () => live,
      trainable: {
        parameters: base.parameters,
        async prepareLosses(batch: Batch) {
          calls.push('prepare');
          const rows = (await batch.x.data()).length / 2;
          live += 1;
          return {
            rows,
            dispose: () => {
              calls.push('dispose');
              live -= 1;
            },
          };
        },
        losses(batch: Batch, prepared?: { dispose(): void }) {
          calls.push(
            prepared
              ? `losses(prepared ${(prepared as unknown as { rows: number }).rows})`
              : 'losses',
          );
          return base.losses(batch);
        },
      },
    };
  }

  it('two-phase: prepares, runs a closure with the prepared step, frees it, and trains as step does', async () => {
    const prepared = preparedModel();
    const trainer = new Trainer<Batch>({ ...trainerOf(model()), model: prepared.trainable });
    const reference = trainerOf(model());
    const x = tf.tensor2d([[1, 0]]);
    const before = tf.memory().numTensors;
    const result = await trainer.stepAsync({ x }, { twoPhase: true });
    expect(prepared.calls).toEqual(['prepare', 'losses(prepared 1)', 'dispose']);
    expect(prepared.live()).toBe(0);
    expect(result).toEqual(reference.step({ x }));
    expect(Array.from(prepared.trainable.parameters.get('w').dataSync())).toEqual(
      Array.from(reference.model.parameters.get('w').dataSync()),
    );
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    trainer.dispose();
    reference.dispose();
  });

  it('on a backend with synchronous readback it is step (no prepare phase)', async () => {
    const prepared = preparedModel();
    const trainer = new Trainer<Batch>({ ...trainerOf(model()), model: prepared.trainable });
    const x = tf.tensor2d([[1, 0]]);
    const result = await trainer.stepAsync({ x });
    expect(prepared.calls).toEqual(['losses']);
    expect(result.losses).toEqual({ loss: 5.5, loss_fit: 1, loss_bias: 4.5 });
    x.dispose();
    trainer.dispose();
  });

  it('two-phase without prepareLosses is refused, naming the backend', async () => {
    const trainer = trainerOf(model());
    const x = tf.tensor2d([[1, 0]]);
    await expect(trainer.stepAsync({ x }, { twoPhase: true })).rejects.toThrow(
      /Trainer\.stepAsync: the model has no prepareLosses, which a two-phase step \(backend 'cpu'\) needs/,
    );
    x.dispose();
    trainer.dispose();
  });
});
