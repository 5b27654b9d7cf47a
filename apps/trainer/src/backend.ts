import { availableParallelism } from 'node:os';
import { activeBackend, type BackendInfo, initBackend } from '@det/core';

/**
 * The compute backend: `DET_BACKEND` or the best available; wasm with 2 threads where the
 * pool starts (the tiny step is ~13 % faster on 2 cores), else 1. Started once per process:
 * later calls return it (commands chained in one process log it once).
 */
export async function startBackend(log: (line: string) => void): Promise<BackendInfo> {
  const active = activeBackend();
  if (active) return active;
  const wasmThreads = Number(process.env.DET_WASM_THREADS ?? Math.min(2, availableParallelism()));
  let backend: BackendInfo;
  try {
    backend = await initBackend({ wasmThreads });
  } catch (error) {
    if (wasmThreads === 1 || process.env.DET_WASM_THREADS) throw error;
    log(`wasm threads unavailable (${(error as Error).message}); using 1 thread`);
    backend = await initBackend({ wasmThreads: 1 });
  }
  log(`backend: ${backend.name} (${backend.device}, ${backend.threads} thread(s))`);
  return backend;
}
