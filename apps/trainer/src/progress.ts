import type { DetectorBatch } from '@det/detectors';
import type { StepReport, TrainingHook } from '@det/train';
import cliProgress from 'cli-progress';

function lossText(losses: Record<string, number>): string {
  return Object.entries(losses)
    .map(([name, value]) => `${name} ${value.toFixed(4)}`)
    .join('  ');
}

/**
 * Progress: a cli-progress bar (iteration, it/s, ETA, losses) on a terminal; otherwise a
 * plain line every `interval` iterations (CI logs, pipes).
 */
export function progressHook(options: {
  interactive: boolean;
  interval: number;
  log: (line: string) => void;
}): TrainingHook<DetectorBatch> {
  let bar: cliProgress.SingleBar | undefined;
  const started = performance.now();
  let firstIteration: number | undefined;
  const rate = (iteration: number) =>
    (iteration - (firstIteration ?? iteration)) /
    Math.max((performance.now() - started) / 1000, 1e-9);
  return {
    afterStep(context, report: StepReport) {
      const done = report.iteration + 1;
      firstIteration ??= report.iteration;
      if (options.interactive) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: 'iter {value}/{total} |{bar}| {speed} it/s | ETA {eta_formatted} | {losses}',
              hideCursor: true,
              etaBuffer: 50,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(context.maxIters, report.iteration, { speed: '0.00', losses: '' });
        }
        bar.update(done, { speed: rate(done).toFixed(2), losses: lossText(report.losses) });
        return;
      }
      if (report.iteration < 3 || done % options.interval === 0) {
        options.log(
          `[${report.elapsedSeconds.toFixed(0)}s] iter ${done}/${context.maxIters}  lr ${report.learningRate.toExponential(2)}  ${lossText(report.losses)}  ${report.imagesPerSecond.toFixed(2)} img/s  tensors ${report.tensors}`,
        );
      }
    },
    beforeEval() {
      bar?.stop();
      bar = undefined;
    },
    afterTraining() {
      bar?.stop();
      bar = undefined;
    },
  };
}
