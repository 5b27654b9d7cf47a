/**
 * Helper threads for the wasm deformable conv. The fused conv runs in our own WebAssembly module,
 * outside the wasm backend's thread pool, so without help it computes on one core while the
 * backend's threads sit idle. With `setDeformConvThreads(n)` (initBackend calls it with the wasm
 * backend's thread count) the module is instantiated on a shared memory on this thread and on
 * n − 1 Node worker threads; a call hands each worker its share through an Int32Array of control
 * words and waits for it with `Atomics.wait`. The work units are chosen so that every value keeps its
 * single-thread bits: the forward pass splits output positions (rows are independent), the
 * backward pass splits offset groups (a group's samples read and scatter only its channels).
 *
 * Only where a synchronous wait is allowed and workers exist: Node (20.16+: `process.
 * getBuiltinModule`) with SharedArrayBuffer. Elsewhere — a browser's main thread — the module
 * runs alone on its own memory, as before.
 */

/** The kernels' exports this file calls (the shared variant's, same functions as the own). */
export interface DeformModuleExports {
  setGeometry(...geometry: number[]): void;
  setOutChannels(outChannels: number): void;
  /** The list of output positions `convolve` computes (a byte pointer), 0 for the whole grid. */
  setPositions(at: number): void;
  convolve(...pointersAndRange: number[]): void;
  convolveBackward(...pointersAndRange: number[]): void;
}

/** Control words of one worker (Int32Array indices). */
const READY = 0;
const REQUEST = 1;
const DONE = 2;
const FAILED = 3;
const OPERATION = 4;
const OUT_CHANNELS = 5;
const GEOMETRY = 6; // 15 words
const ARGUMENT_COUNT = 21;
const ARGUMENTS = 22; // up to 24 words
const UNITS = 46;
const BOUNDS = 47; // units + 1 words
const maxUnits = 32;
const POSITIONS = BOUNDS + maxUnits + 1;
const CONTROL_WORDS = POSITIONS + 1;
const MESSAGE_BYTES = 1024;

const operations = ['convolve', 'convolveBackward'] as const;
export type DeformOperation = (typeof operations)[number];

/** How long the caller waits for a worker's share before it reports the worker as stuck. */
const workerTimeoutMs = 120_000;

// The worker's whole program (CommonJS, `eval: true`): instantiate the shared module on the
// shared memory, then serve requests until the process exits.
const workerSource = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, message, counter } = workerData;
const words = new Int32Array(control);
const next = new Int32Array(counter);
const text = new Uint8Array(message);
const operations = ${JSON.stringify(operations)};
const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
Atomics.store(words, ${READY}, 1);
Atomics.notify(words, ${READY});
let served = 0;
for (;;) {
  Atomics.wait(words, ${REQUEST}, served);
  served = Atomics.load(words, ${REQUEST});
  try {
    kernels.setGeometry(...words.subarray(${GEOMETRY}, ${GEOMETRY + 15}));
    kernels.setOutChannels(words[${OUT_CHANNELS}]);
    kernels.setPositions(words[${POSITIONS}]);
    const args = Array.from(words.subarray(${ARGUMENTS}, ${ARGUMENTS} + words[${ARGUMENT_COUNT}]));
    const run = kernels[operations[words[${OPERATION}]]];
    const units = words[${UNITS}];
    for (let unit = Atomics.add(next, 0, 1); unit < units; unit = Atomics.add(next, 0, 1)) {
      run(...args, words[${BOUNDS} + unit], words[${BOUNDS} + unit + 1]);
    }
  } catch (error) {
    const bytes = new TextEncoder().encode(String(error && error.stack || error)).subarray(0, ${MESSAGE_BYTES});
    text.fill(0);
    text.set(bytes);
    Atomics.store(words, ${FAILED}, 1);
  }
  Atomics.store(words, ${DONE}, served);
  Atomics.notify(words, ${DONE});
}
`;

interface WorkerHandle {
  words: Int32Array;
  message: Uint8Array;
  worker: { terminate(): unknown; unref(): unknown };
}

/** The module's shared instance on this thread plus its helper threads. */
export interface DeformThreadPool {
  readonly exports: DeformModuleExports & { memory: WebAssembly.Memory };
  /** Threads that can take a share now: this one plus the workers that have started. */
  parts(): number;
  /**
   * Runs `operation` over units [bounds[u], bounds[u + 1]) (its last two arguments), each thread
   * claiming the next unit when done with one, so a thread slowed by another process's time slice
   * takes fewer; returns when every unit is done. `threadArguments(t)` gives thread t's other
   * arguments (its own scratch buffers): thread 0 is this one, thread t worker t − 1.
   * `positions`: a list of output positions in the shared memory (`setPositions`) whose rows
   * the units index, 0 (default) for the grid; each request sets it on every thread it uses.
   */
  run(
    operation: DeformOperation,
    geometry: readonly number[],
    outChannels: number,
    threads: number,
    threadArguments: (thread: number) => number[],
    bounds: readonly number[],
    positions?: number,
  ): void;
  terminate(): void;
}

interface NodeWorkerThreads {
  Worker: new (
    source: string,
    options: { eval: true; workerData: unknown },
  ) => WorkerHandle['worker'] & { on(event: string, listener: (value: unknown) => void): unknown };
}

/** Node's worker_threads where synchronous waits and shared memory exist, else null. */
function workerThreads(): NodeWorkerThreads | null {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics?.wait !== 'function') {
    return null;
  }
  const nodeProcess = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } })
    .process;
  if (typeof nodeProcess?.getBuiltinModule !== 'function') return null;
  return (
    (nodeProcess.getBuiltinModule('node:worker_threads') as NodeWorkerThreads | undefined) ?? null
  );
}

/**
 * A pool of `threads` (this thread included) on the shared-memory module, or null where threads
 * are unavailable (then the caller uses the module on its own memory).
 */
export function startDeformThreadPool(
  sharedModuleBytes: Uint8Array,
  threads: number,
): DeformThreadPool | null {
  const threadsModule = workerThreads();
  if (!threadsModule || threads < 2) return null;
  let memory: WebAssembly.Memory;
  let module: WebAssembly.Module;
  let exports: DeformModuleExports & { memory: WebAssembly.Memory };
  try {
    memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    module = new WebAssembly.Module(sharedModuleBytes as BufferSource);
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    // Every export (ensureMemory, tapColumn, …) plus the memory, which this variant imports.
    exports = Object.assign({}, instance.exports, { memory }) as unknown as typeof exports;
  } catch {
    return null;
  }
  const workers: WorkerHandle[] = [];
  const counter = new Int32Array(new SharedArrayBuffer(4));
  let failure: string | undefined;
  for (let index = 0; index < threads - 1; index++) {
    const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
    const message = new SharedArrayBuffer(MESSAGE_BYTES);
    const worker = new threadsModule.Worker(workerSource, {
      eval: true,
      workerData: { module, memory, control, message, counter: counter.buffer },
    });
    // A worker waiting for work must not keep the process alive.
    worker.unref();
    worker.on('error', (error) => {
      failure = String((error as Error)?.stack ?? error);
    });
    workers.push({ words: new Int32Array(control), message: new Uint8Array(message), worker });
  }
  let terminated = false;
  const ready = () =>
    terminated || failure !== undefined
      ? []
      : workers.filter((handle) => Atomics.load(handle.words, READY) === 1);
  return {
    exports,
    parts: () => 1 + ready().length,
    run(operation, geometry, outChannels, threads, threadArguments, bounds, positions = 0) {
      const units = bounds.length - 1;
      if (units > maxUnits)
        throw new Error(`deformable-conv threads: ${units} units > ${maxUnits}`);
      const helpers = ready().slice(0, threads - 1);
      if (helpers.length < threads - 1) {
        throw new Error(
          `deformable-conv threads: ${threads} threads asked, ${1 + helpers.length} ready`,
        );
      }
      Atomics.store(counter, 0, 0);
      const requests = helpers.map((handle, index) => {
        const words = handle.words;
        const args = threadArguments(index + 1);
        words[OPERATION] = operations.indexOf(operation);
        words[OUT_CHANNELS] = outChannels;
        words.set(geometry, GEOMETRY);
        words[ARGUMENT_COUNT] = args.length;
        words.set(args, ARGUMENTS);
        words[UNITS] = units;
        words.set(bounds, BOUNDS);
        words[POSITIONS] = positions;
        const request = Atomics.add(words, REQUEST, 1) + 1;
        Atomics.notify(words, REQUEST);
        return request;
      });
      exports.setGeometry(...geometry);
      exports.setOutChannels(outChannels);
      exports.setPositions(positions);
      const run = exports[operation];
      const args = threadArguments(0);
      try {
        for (
          let unit = Atomics.add(counter, 0, 1);
          unit < units;
          unit = Atomics.add(counter, 0, 1)
        ) {
          run(...args, bounds[unit] as number, bounds[unit + 1] as number);
        }
      } finally {
        // This thread's instance also serves single-thread calls, which mean the grid.
        exports.setPositions(0);
      }
      helpers.forEach((handle, index) => {
        const words = handle.words;
        const request = requests[index] as number;
        const started = Date.now();
        for (;;) {
          const done = Atomics.load(words, DONE);
          if (done === request) break;
          Atomics.wait(words, DONE, done, 1000);
          if (Date.now() - started > workerTimeoutMs) {
            throw new Error(
              `deformable-conv worker ${index + 1} did not finish its share of ${operation} within ${workerTimeoutMs / 1000} s${failure ? `: ${failure}` : ''}`,
            );
          }
        }
        if (Atomics.load(words, FAILED) === 1) {
          const text = new TextDecoder().decode(handle.message.slice()).replace(/\0+$/, '');
          Atomics.store(words, FAILED, 0);
          throw new Error(`deformable-conv worker ${index + 1} failed in ${operation}: ${text}`);
        }
      });
    },
    terminate() {
      terminated = true;
      for (const handle of workers) handle.worker.terminate();
    },
  };
}
