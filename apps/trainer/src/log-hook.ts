import type { DetectorBatch } from '@det/detectors';
import type { StepReport, TrainingHook } from '@det/train';
import { appendJsonLine } from './run-folder';

/** Appends one `log.jsonl` line per step: losses, lr, time, images/s, tensor count, heap. */
export function jsonLinesLogHook(file: string): TrainingHook<DetectorBatch> {
  return {
    async afterStep(_, report: StepReport) {
      await appendJsonLine(file, {
        iteration: report.iteration,
        losses: report.losses,
        lr: report.learningRate,
        gradNorm: report.gradNorm,
        seconds: report.elapsedSeconds,
        stepSeconds: report.stepSeconds,
        imagesPerSecond: report.imagesPerSecond,
        tensors: report.tensors,
        heapBytes: report.heapBytes,
      });
    },
  };
}
