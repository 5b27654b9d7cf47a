import type { CellSpec, Matrix } from './matrix';
import { type FidelityResult, runName } from './results';

export interface CellEstimate {
  cell: string;
  runs: number;
  /** Runs with a committed result. */
  done: number;
  secondsPerStep: number;
  /** Whether `secondsPerStep` was measured (a finished run of the family) or assumed. */
  measured: boolean;
  /** Estimated seconds of all the cell's runs. */
  seconds: number;
  /** Estimated seconds of its runs without a result. */
  remaining: number;
  /** Seconds its finished runs actually took (training + evaluations, wall clock). */
  taken: number;
}

const mean = (values: readonly number[]) =>
  values.reduce((sum, value) => sum + value, 0) / values.length;

/**
 * The matrix's time from measured step times: per model family the mean seconds per step of
 * its finished runs (else the matrix's assumption), per evaluation the mean of the finished
 * runs' evaluation time.
 */
export function estimateBudget(
  matrix: Matrix,
  results: ReadonlyMap<string, FidelityResult>,
): { cells: CellEstimate[]; total: number; remaining: number; spent: number; quick: number } {
  const family = new Map(matrix.cells.map((cell) => [cell.id, cell.family]));
  const perFamily = new Map<string, number[]>();
  const perEval: number[] = [];
  let spent = 0;
  for (const result of results.values()) {
    const name = family.get(result.cell);
    if (name && result.iterations > 0) {
      perFamily.set(name, [...(perFamily.get(name) ?? []), result.secondsPerStep]);
    }
    const evaluations = Object.keys(result.evals).length - 1;
    if (evaluations > 0) perEval.push(result.evalSeconds / evaluations);
    spent += result.trainSeconds + result.evalSeconds;
  }
  const evalSeconds = perEval.length > 0 ? mean(perEval) : matrix.assumedEvalSeconds;
  const cells = matrix.cells.map((cell: CellSpec): CellEstimate => {
    const measuredSteps = perFamily.get(cell.family);
    const secondsPerStep = measuredSteps
      ? mean(measuredSteps)
      : (matrix.assumedStepSeconds[cell.family] ?? 1);
    // A fine-tune cell also writes proposals of two splits: about one evaluation's time each.
    const passes = cell.evals.length + (cell.finetune ? 2 : 0);
    const perRun = cell.steps * secondsPerStep + passes * evalSeconds;
    const finished = cell.seeds.flatMap((seed) => results.get(runName(cell.id, seed)) ?? []);
    const done = finished.length;
    return {
      cell: cell.id,
      runs: cell.seeds.length,
      done,
      secondsPerStep,
      measured: measuredSteps !== undefined,
      seconds: perRun * cell.seeds.length,
      remaining: perRun * (cell.seeds.length - done),
      taken: finished.reduce((sum, result) => sum + result.trainSeconds + result.evalSeconds, 0),
    };
  });
  const perRun = new Map(cells.map((c) => [c.cell, c.seconds / Math.max(1, c.runs)]));
  return {
    cells,
    quick: matrix.quick.reduce((sum, pair) => sum + (perRun.get(pair.cell) ?? 0), 0),
    total: cells.reduce((sum, cell) => sum + cell.seconds, 0),
    remaining: cells.reduce((sum, cell) => sum + cell.remaining, 0),
    spent,
  };
}

export const hours = (seconds: number): string => `${(seconds / 3600).toFixed(1)} h`;
