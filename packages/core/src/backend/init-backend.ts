import './register-stock-gradients';
import type * as Fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { setDeformConvThreads } from '../ops/deform-conv2d-host';
import { registerGradientOverrides } from './gradient-overrides';
import { importNodeBuiltin } from './node-builtin';
import { registerWasmKernels } from './wasm-kernels';
import { startWasmWithThreads } from './wasm-threads';

export type BackendName = 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';

/** The backends in order of preference. */
export const backendPreference: readonly BackendName[] = ['webgpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The det name of the backend (tfjs calls `tensorflow` "tensorflow" too). */
  name: BackendName;
  /** Version of the tfjs package that provides it. */
  version: string;
  /** Threads the backend computes with (1 for wasm without threads; 0 when unknown). */
  threads: number;
  /** What it runs on, e.g. "NVIDIA H100 (vulkan)", "CPU (wasm SIMD)". */
  device: string;
  /** Kernels whose gradient det replaced because this backend lacks a kernel they need. */
  gradientOverrides: string[];
  /** webgpu only: the adapter Dawn gave, and whether it is a software rasteriser (lavapipe). */
  adapter?: WebgpuAdapterReport;
}

export interface WebgpuAdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** true for lavapipe/llvmpipe/SwiftShader: correct, but never fast. */
  software: boolean;
}

export interface InitBackendOptions {
  /** Force a backend; defaults to `DET_BACKEND`, then the first available in preference order. */
  backend?: BackendName;
  /** Threads for wasm; defaults to `DET_WASM_THREADS`, then 1. */
  wasmThreads?: number;
  /**
   * Accept a software WebGPU adapter (lavapipe). Never chosen automatically: a software
   * rasteriser is for testing the GPU code path, not for speed. Defaults to
   * `DET_WEBGPU_ALLOW_SOFTWARE=1`.
   */
  allowSoftwareAdapter?: boolean;
  /** Environment to read `DET_BACKEND` / `DET_WASM_THREADS` from (default `process.env`; none in a browser). */
  env?: Record<string, string | undefined>;
}

type Probe =
  | { ok: true; info: Omit<BackendInfo, 'gradientOverrides'> }
  | { ok: false; reason: string };

let active: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

async function importOptional(specifier: string): Promise<Record<string, unknown>> {
  // A computed specifier keeps bundlers from resolving optional peers at build time.
  const name = specifier;
  return (await import(/* @vite-ignore */ name)) as Record<string, unknown>;
}

/**
 * Dawn needs a GPU device node on Linux (NVIDIA's /dev/nvidia*, or a DRM render node).
 * Without one, probing only prints native noise from the Vulkan loader, so skip it.
 */
async function hasGpuDevice(): Promise<boolean> {
  if (process.platform !== 'linux') return true;
  const { readdirSync } = await importNodeBuiltin<typeof Fs>('node:fs', 'probing GPU devices');
  const listing = (folder: string) => {
    try {
      return readdirSync(folder);
    } catch {
      return [];
    }
  };
  return (
    listing('/dev').some((file) => /^nvidia\d+$/.test(file)) ||
    listing('/dev/dri').some((file) => file.startsWith('renderD'))
  );
}

const softwareAdapterPattern = /llvmpipe|lavapipe|swiftshader/i;

/** true under Node (and Bun/Deno's Node mode), false in a web page or a web worker. */
function isNode(): boolean {
  return (
    typeof globalThis.process === 'object' && typeof globalThis.process.versions?.node === 'string'
  );
}

/** `process.env` under Node, nothing in a web page. */
function defaultEnv(): Record<string, string | undefined> {
  return isNode() ? process.env : {};
}

/** The page's own WebGPU (`navigator.gpu`); in Node, Dawn through the optional `webgpu` package. */
async function webgpuEntry(
  allowSoftware: boolean,
): Promise<
  { ok: true; gpu: GPU; globals: Record<string, unknown> } | { ok: false; reason: string }
> {
  if (!isNode()) {
    const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
    return gpu
      ? { ok: true, gpu, globals: {} }
      : { ok: false, reason: 'this browser has no WebGPU (navigator.gpu)' };
  }
  // A software Vulkan driver needs no device node; only look for one when hardware is required.
  if (!allowSoftware && !(await hasGpuDevice())) {
    return {
      ok: false,
      reason:
        'no GPU device node (/dev/nvidia*, /dev/dri/renderD*); DET_WEBGPU_ALLOW_SOFTWARE=1 tries a software Vulkan driver (lavapipe)',
    };
  }
  let webgpu: Record<string, unknown>;
  try {
    webgpu = await importOptional('webgpu');
  } catch (error) {
    return {
      ok: false,
      reason: `the optional 'webgpu' package is not installed (${describe(error)})`,
    };
  }
  const create = webgpu.create as ((flags: string[]) => GPU) | undefined;
  if (typeof create !== 'function')
    return { ok: false, reason: "the 'webgpu' package exports no create()" };
  try {
    return {
      ok: true,
      gpu: create([]),
      globals: (webgpu.globals ?? {}) as Record<string, unknown>,
    };
  } catch (error) {
    return { ok: false, reason: `Dawn could not start (${describe(error)})` };
  }
}

async function probeWebgpu(allowSoftware: boolean): Promise<Probe> {
  const entry = await webgpuEntry(allowSoftware);
  if (!entry.ok) return entry;
  const { gpu } = entry;
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    const what = isNode() ? 'Dawn could not start' : 'the GPU adapter request failed';
    return { ok: false, reason: `${what} (${describe(error)})` };
  }
  if (adapter === null) {
    return {
      ok: false,
      reason: isNode()
        ? 'Dawn found no GPU adapter (needs a Vulkan driver: NVIDIA, or Mesa >= 23 lavapipe)'
        : 'the browser gave no WebGPU adapter',
    };
  }
  const adapterInfo = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const report: WebgpuAdapterReport = {
    vendor: adapterInfo?.vendor ?? '',
    architecture: adapterInfo?.architecture ?? '',
    device: adapterInfo?.device ?? '',
    description: adapterInfo?.description ?? '',
    software: softwareAdapterPattern.test(
      `${adapterInfo?.vendor} ${adapterInfo?.device} ${adapterInfo?.description}`,
    ),
  };
  if (report.software && !allowSoftware) {
    return {
      ok: false,
      reason: `the only adapter is a software rasteriser (${report.description}); set DET_WEBGPU_ALLOW_SOFTWARE=1 to test the webgpu path on it anyway`,
    };
  }
  if (isNode()) {
    // tfjs-backend-webgpu reads navigator.gpu and the WebGPU enums from the global scope.
    Object.assign(globalThis, entry.globals);
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu },
      configurable: true,
      writable: true,
    });
  }
  try {
    // A page that bundles @tensorflow/tfjs-backend-webgpu has registered it on import.
    if (!tf.findBackendFactory('webgpu')) await importOptional('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu')))
      return { ok: false, reason: 'tfjs-backend-webgpu failed to initialise' };
  } catch (error) {
    return {
      ok: false,
      reason: `@tensorflow/tfjs-backend-webgpu could not load (${describe(error)})`,
    };
  }
  const device =
    `${report.vendor} ${report.architecture} ${report.description}`.trim() +
    (report.software ? ' (software)' : '');
  return {
    ok: true,
    info: {
      name: 'webgpu',
      version: tf.version_core,
      threads: 0,
      device: device || 'GPU',
      adapter: report,
    },
  };
}

async function probeTensorflow(): Promise<Probe> {
  if (!isNode()) return { ok: false, reason: 'tfjs-node runs only under Node' };
  const reasons: string[] = [];
  for (const specifier of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      const binding = await importOptional(specifier);
      if (!(await tf.setBackend('tensorflow'))) {
        reasons.push(`${specifier} loaded but did not register the tensorflow backend`);
        continue;
      }
      const versions = binding.version as Record<string, string> | undefined;
      return {
        ok: true,
        info: {
          name: 'tensorflow',
          version: versions?.['tfjs-node'] ?? tf.version_core,
          threads: 0,
          device: specifier.endsWith('gpu') ? 'libtensorflow (CUDA)' : 'libtensorflow (CPU)',
        },
      };
    } catch (error) {
      reasons.push(`${specifier}: ${describe(error)}`);
    }
  }
  return {
    ok: false,
    reason: `neither tfjs-node-gpu nor tfjs-node could load (${reasons.join('; ')})`,
  };
}

async function probeWasm(threads: number): Promise<Probe> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const started =
      threads > 1 ? await startWasmWithThreads(wasm, threads) : await tf.setBackend('wasm');
    if (!started) return { ok: false, reason: 'the wasm module failed to initialise' };
    if (threads > 1 && wasm.getThreadsCount() !== threads) {
      return {
        ok: false,
        reason: `DET_WASM_THREADS=${threads} was asked for, but the wasm thread pool started ${wasm.getThreadsCount()}`,
      };
    }
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    // deformConv2d's own module runs between the backend's kernels: give it the same threads.
    setDeformConvThreads(wasm.getThreadsCount());
    return {
      ok: true,
      info: {
        name: 'wasm',
        version: wasm.version_wasm,
        threads: wasm.getThreadsCount(),
        device: `CPU (wasm${simd ? ' SIMD' : ''})`,
      },
    };
  } catch (error) {
    return {
      ok: false,
      reason: `@tensorflow/tfjs-backend-wasm could not load (${describe(error)})`,
    };
  }
}

async function probeCpu(): Promise<Probe> {
  try {
    const cpu = await import('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend('cpu')))
      return { ok: false, reason: 'the cpu backend failed to initialise' };
    return {
      ok: true,
      info: { name: 'cpu', version: cpu.version_cpu, threads: 1, device: 'CPU (JavaScript)' },
    };
  } catch (error) {
    return {
      ok: false,
      reason: `@tensorflow/tfjs-backend-cpu could not load (${describe(error)})`,
    };
  }
}

function parseBackend(value: string | undefined): BackendName | undefined {
  if (value === undefined || value === '') return undefined;
  if ((backendPreference as readonly string[]).includes(value)) return value as BackendName;
  throw new Error(
    `DET_BACKEND=${value} is not a backend; choose one of ${backendPreference.join(', ')}`,
  );
}

function parseThreads(value: string | number | undefined): number {
  if (value === undefined || value === '') return 1;
  const threads = Number(value);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`DET_WASM_THREADS=${value} must be a positive integer`);
  }
  return threads;
}

function parseFlag(name: string, value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  throw new Error(`${name}=${value} must be 1 or 0`);
}

async function probe(
  name: BackendName,
  wasmThreads: number,
  allowSoftware: boolean,
): Promise<Probe> {
  switch (name) {
    case 'webgpu':
      return probeWebgpu(allowSoftware);
    case 'tensorflow':
      return probeTensorflow();
    case 'wasm':
      return probeWasm(wasmThreads);
    case 'cpu':
      return probeCpu();
  }
}

async function choose(options: InitBackendOptions): Promise<BackendInfo> {
  const env = options.env ?? defaultEnv();
  const forced = options.backend ?? parseBackend(env.DET_BACKEND);
  const wasmThreads = parseThreads(options.wasmThreads ?? env.DET_WASM_THREADS);
  const allowSoftware =
    options.allowSoftwareAdapter ??
    parseFlag('DET_WEBGPU_ALLOW_SOFTWARE', env.DET_WEBGPU_ALLOW_SOFTWARE);
  const candidates = forced ? [forced] : backendPreference;
  const reasons: string[] = [];
  for (const name of candidates) {
    // A software adapter is only ever taken when webgpu is asked for by name.
    const result = await probe(name, wasmThreads, allowSoftware && forced === 'webgpu');
    if (result.ok) {
      const gradientOverrides = registerGradientOverrides(tf.getBackend());
      registerWasmKernels(tf.getBackend());
      return { ...result.info, gradientOverrides };
    }
    reasons.push(`${name}: ${result.reason}`);
  }
  if (forced) {
    // Say what else would have worked, so the user can pick it.
    const others: string[] = [];
    for (const name of backendPreference.filter((b) => b !== forced)) {
      const result = await probe(name, 1, false);
      others.push(result.ok ? `${name}: available` : `${name}: ${result.reason}`);
    }
    throw new Error(
      `The backend '${forced}' cannot load: ${reasons[0]}.\nOther backends:\n  ${others.join('\n  ')}`,
    );
  }
  throw new Error(`No tfjs backend could load:\n  ${reasons.join('\n  ')}`);
}

/**
 * Chooses and initialises ONE tfjs backend for the process: `webgpu` when the `webgpu`
 * package finds a GPU adapter, then `tensorflow` (tfjs-node-gpu, tfjs-node), `wasm`, `cpu`.
 * `DET_BACKEND` (or `options.backend`) forces one. Later calls return the same choice;
 * asking for a different backend after one was chosen is an error.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = options.backend ?? parseBackend((options.env ?? defaultEnv()).DET_BACKEND);
  if (active) {
    if (requested && requested !== active.name) {
      throw new Error(
        `The backend is already '${active.name}' for this process; cannot switch to '${requested}'`,
      );
    }
    return active;
  }
  pending ??= choose(options).then(
    (info) => {
      active = info;
      return info;
    },
    (error: unknown) => {
      pending = undefined;
      throw error;
    },
  );
  return pending;
}

/** The backend chosen by `initBackend`, or undefined before it ran. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}
