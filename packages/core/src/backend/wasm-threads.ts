import type * as Fs from 'node:fs';
import type * as Os from 'node:os';
import type * as Path from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { importNodeBuiltin } from './node-builtin';

/**
 * Starts tfjs-backend-wasm 4.22's pthread build under Node, which tfjs itself refuses:
 *
 * - it reports `WASM_HAS_MULTITHREAD_SUPPORT = false` for Node (tfjs#3830), so we set it;
 * - it hands Emscripten its worker script and its own factory source as `Blob` URLs, which
 *   Node's `worker_threads` cannot load, so while the module starts we capture those blobs
 *   and write them to real files (the factory source gets back the module aliases of the
 *   rollup bundle it was cut from), and give the pthread workers the file paths instead;
 * - its C++ side sizes the XNNPACK pool from `emscripten_num_logical_cores() / 2`, which
 *   caps a 2-core machine at one thread whatever `setThreadsCount` says (tfjs#8513), so
 *   `os.cpus()` reports 2·threads while the module starts.
 *
 * Every patch is undone before this returns; the workers are unref'd once loaded so they
 * never keep the process alive. Call it after importing the wasm backend and before
 * `tf.setBackend('wasm')`.
 */
export async function startWasmWithThreads(
  wasm: { setThreadsCount: (threads: number) => void },
  threads: number,
): Promise<boolean> {
  const what = 'DET_WASM_THREADS > 1';
  const { mkdtempSync, writeFileSync } = await importNodeBuiltin<typeof Fs>('node:fs', what);
  const os = (await importNodeBuiltin<{ default: typeof Os }>('node:os', what)).default;
  const { join } = await importNodeBuiltin<typeof Path>('node:path', what);
  const NodeWorker = (await importNodeBuiltin<typeof WorkerThreads>('node:worker_threads', what))
    .Worker;
  type NodeWorker = WorkerThreads.Worker;
  const folder = mkdtempSync(join(os.tmpdir(), 'det-wasm-threads-'));
  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = os.cpus;
  const workerDescriptor = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  const textOf = new WeakMap<object, string>();
  const files = new Map<object, string>();
  const prelude =
    "var require$$0 = require('fs'), require$$1 = require('path'), require$$2 = require('worker_threads'), " +
    "require$$3 = require('perf_hooks'), require$$4 = require('os'), commonjsGlobal = globalThis;\n";
  const fileFor = (blob: object): string => {
    let file = files.get(blob);
    if (file === undefined) {
      file = join(folder, `script-${files.size}.js`);
      writeFileSync(file, prelude + textOf.get(blob));
      files.set(blob, file);
    }
    return file;
  };

  class CapturingBlob extends OriginalBlob {
    constructor(parts: BlobPart[] = [], options?: BlobPropertyBag) {
      super(parts, options);
      textOf.set(this, parts.map(String).join(''));
    }
  }
  class PthreadWorker extends NodeWorker {
    private loaded = false;
    constructor(path: string, options?: WorkerThreads.WorkerOptions) {
      super(path, options);
      this.on('message', (message: { cmd?: string } | undefined) => {
        if (message?.cmd === 'loaded') {
          this.loaded = true;
          this.unref();
        }
      });
    }
    // Emscripten refs a worker while it runs a pthread; XNNPACK's pool threads run forever,
    // so a loaded worker must never hold the process open.
    override ref(): void {
      if (!this.loaded) super.ref();
    }
    override postMessage(
      message: unknown,
      transfer?: Parameters<NodeWorker['postMessage']>[1],
    ): void {
      const load = message as { cmd?: string; urlOrBlob?: object } | undefined;
      if (load?.cmd === 'load' && load.urlOrBlob && textOf.has(load.urlOrBlob)) {
        super.postMessage({ ...load, urlOrBlob: fileFor(load.urlOrBlob) }, transfer);
        return;
      }
      super.postMessage(message, transfer);
    }
  }

  globalThis.Blob = CapturingBlob as typeof Blob;
  URL.createObjectURL = (blob: Blob) =>
    textOf.has(blob) ? fileFor(blob) : originalCreateObjectURL(blob);
  // Emscripten assigns the global Worker when its factory runs; keep ours in place.
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    get: () => PthreadWorker,
    set: () => {},
  });
  const cpu = originalCpus()[0];
  (os as { cpus: () => Os.CpuInfo[] }).cpus = () =>
    Array.from({ length: 2 * threads }, () => cpu as Os.CpuInfo);
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
    return await tf.setBackend('wasm');
  } finally {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    (os as { cpus: () => Os.CpuInfo[] }).cpus = originalCpus;
    if (workerDescriptor) Object.defineProperty(globalThis, 'Worker', workerDescriptor);
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
}
