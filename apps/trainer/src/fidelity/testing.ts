import type { CellSpec } from './matrix';
import { type FidelityResult, fingerprintOf } from './results';

/** A det cell of 20 steps and two seeds for the fidelity tests. */
export const testCell = (id: string, extra: Partial<CellSpec> = {}): CellSpec => ({
  id,
  runner: 'det',
  preset: 'tinyRpn',
  set: [],
  data: 'default',
  steps: 20,
  seeds: [0, 1],
  evals: [],
  family: id,
  ...extra,
});

/** A finished run's result of `cellSpec` (its current fingerprint) with these evaluations. */
export function testResult(
  cellSpec: CellSpec,
  seed: number,
  evals: FidelityResult['evals'],
  extra: Partial<FidelityResult> = {},
): FidelityResult {
  return {
    format: 'det-fidelity-result',
    version: 1,
    run: `${cellSpec.id}-s${seed}`,
    cell: cellSpec.id,
    seed,
    fingerprint: fingerprintOf(cellSpec, seed),
    runner: 'det',
    preset: cellSpec.preset,
    set: [],
    data: 'default',
    steps: cellSpec.steps,
    iterations: cellSpec.steps,
    trainSeconds: 10,
    secondsPerStep: 0.5,
    evalSeconds: 4,
    evals,
    finishedAt: '2026-11-30T00:00:00.000Z',
    host: 'test',
    ...extra,
  };
}
