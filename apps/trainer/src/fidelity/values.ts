import type { Matrix, TableRow } from './matrix';
import { type EvalResult, type FidelityResult, fingerprintOf, runName } from './results';

// What the page's tables, claims and plots read from the committed results.

/** Mean and sample standard deviation (0 for one value). */
export function meanSd(values: readonly number[]): { mean: number; sd: number; n: number } {
  const n = values.length;
  const mean = values.reduce((sum, value) => sum + value, 0) / n;
  const sd =
    n > 1 ? Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

/** The results of a cell whose fingerprints match the matrix (stale ones left out). */
export function cellResults(
  matrix: Matrix,
  results: ReadonlyMap<string, FidelityResult>,
  cellId: string,
): FidelityResult[] {
  const cell = matrix.cells.find((c) => c.id === cellId);
  if (!cell) throw new Error(`fidelity matrix: a row names unknown cell '${cellId}'`);
  return cell.seeds.flatMap((seed) => {
    const result = results.get(runName(cell.id, seed));
    return result && result.fingerprint === fingerprintOf(cell, seed) ? [result] : [];
  });
}

/** A metric of one evaluation: COCO's, or what `--count-anchors` / `--time-head` added. */
function evaluationValue(evaluation: EvalResult | undefined, metric: string): number | undefined {
  const timing = evaluation?.headTiming;
  switch (metric) {
    case 'anchorsPerImage':
      return evaluation?.anchorsPerImage;
    case 'headMaskedMs':
      return timing?.maskedMs;
    case 'headDenseMs':
      return timing?.denseMs;
    case 'headSpeedup':
      return timing ? timing.denseMs / timing.maskedMs : undefined;
    default:
      return evaluation?.metrics[metric];
  }
}

/** One row's values of a metric over seeds. */
export function rowValues(
  matrix: Matrix,
  results: ReadonlyMap<string, FidelityResult>,
  row: TableRow,
  metric: string,
): number[] {
  if (!row.cell) return [];
  return cellResults(matrix, results, row.cell).flatMap((result) => {
    const value = evaluationValue(result.evals[row.eval ?? 'main'], metric);
    return value === undefined || value < 0 ? [] : [value];
  });
}
