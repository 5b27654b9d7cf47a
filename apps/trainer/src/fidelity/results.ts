import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CellSpec } from './matrix';

/** One evaluation of a finished run. */
export interface EvalResult {
  metrics: Record<string, number>;
  anchorsPerImage?: number;
  /** MetaAnchor's greedy search: the chosen inference anchors. */
  anchors?: unknown[];
  /** `det eval --time-head`: GA's head on the masked and the dense path, ms per image. */
  headTiming?: { clock: 'cpu' | 'wall'; batches: number; maskedMs: number; denseMs: number };
}

/** The committed record of one finished run (`docs/fidelity/results/<cell>-s<seed>.json`). */
export interface FidelityResult {
  format: 'det-fidelity-result';
  version: 1;
  run: string;
  cell: string;
  seed: number;
  /** What produced it (preset, overrides, data, steps, evaluations): a changed cell is stale. */
  fingerprint: string;
  runner: CellSpec['runner'];
  preset: string;
  set: string[];
  data: string;
  steps: number;
  /** Iterations trained. */
  iterations: number;
  /** Training wall-clock seconds over all sessions (including the end-of-session evaluations). */
  trainSeconds: number;
  secondsPerStep: number;
  /** Wall-clock seconds of the evaluations after training. */
  evalSeconds: number;
  /** `main` is the run's own evaluation; the others are the cell's `evals`. */
  evals: Record<string, EvalResult>;
  finishedAt: string;
  /** The host's CPUs and load when it finished (the machine is shared). */
  host: string;
}

export const runName = (cell: string, seed: number): string => `${cell}-s${seed}`;

/** The fields of a cell that decide its numbers (not its family or the table it fills). */
export function fingerprintOf(cell: CellSpec, seed: number): string {
  return JSON.stringify({
    runner: cell.runner,
    preset: cell.preset,
    set: cell.set,
    data: cell.data,
    steps: cell.steps,
    seed,
    evals: cell.evals,
    // Only where present: the fingerprints of cells without it stay what they were.
    ...(cell.finetune ? { finetune: cell.finetune } : {}),
  });
}

/** Reads and checks a result file; `undefined` when missing, an error naming the file when bad. */
export async function readResult(file: string): Promise<FidelityResult | undefined> {
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: malformed result JSON (${(error as Error).message})`);
  }
  const result = json as Partial<FidelityResult>;
  if (result.format !== 'det-fidelity-result' || typeof result.evals?.main?.metrics !== 'object')
    throw new Error(`${file}: not a det fidelity result (format / evals.main missing)`);
  return result as FidelityResult;
}

/** Every result in a folder, by run name. */
export async function readResults(directory: string): Promise<Map<string, FidelityResult>> {
  const results = new Map<string, FidelityResult>();
  if (!existsSync(directory)) return results;
  for (const name of (await readdir(directory)).sort()) {
    if (!name.endsWith('.json')) continue;
    const result = await readResult(join(directory, name));
    if (result) results.set(result.run, result);
  }
  return results;
}
