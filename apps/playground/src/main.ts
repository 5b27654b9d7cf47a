import './style.css';
import {
  type MetaAnchorFunction,
  type MetaAnchorPresetName,
  metaAnchorPresets,
} from '@det/anchors-meta';
import { type BackendInfo, initBackend } from '@det/core';
import {
  defaultRenderOptions,
  defaultSyntheticOptions,
  normalizePixels,
  renderSyntheticImageAt,
  resolveNormalization,
} from '@det/data/browser';
import {
  countKeptAnchors,
  type Detector,
  type ExportedModelInfo,
  type GuidedAnchorLevel,
  guidedAnchorFunctionOf,
  guidedAnchorMaps,
  loadExportedDetector,
  metaAnchorFunctionOf,
} from '@det/detectors';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import { type AnchorEditorState, anchorSetOf, formatList } from './anchors';
import {
  type DrawnDetection,
  drawAnchorShapes,
  drawScene,
  nearestLocations,
  type SceneImage,
} from './draw';

// The wasm binaries are bundled assets beside the page (no CDN): the site works offline.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
});

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`playground: #${id} is missing from index.html`);
  return element as T;
};

interface LoadedModel {
  detector: Detector;
  info: ExportedModelInfo;
  name: string;
  meta?: MetaAnchorFunction;
  guided?: ReturnType<typeof guidedAnchorFunctionOf>;
}

/** Largest image side run through the detector (bigger images are scaled down first). */
const maxInputSide = 800;
const sampleCount = 6;

let backend: BackendInfo | undefined;
let model: LoadedModel | undefined;
let image: SceneImage | undefined;
let input: tf.Tensor4D | undefined;
let detections: DrawnDetection[] = [];
let levels: GuidedAnchorLevel[] | undefined;
let hover: { x: number; y: number } | undefined;
let runs = 0;
let lastMs: number | undefined;
let queue: Promise<void> = Promise.resolve();

const view = $<HTMLCanvasElement>('view');

function setStatus(text: string, kind: 'info' | 'error' = 'info'): void {
  const status = $('status');
  status.textContent = text;
  status.className = `status ${kind}`;
}

function scoreThreshold(): number {
  return Number($<HTMLInputElement>('score').value);
}

function locationThreshold(): number {
  return 10 ** Number($<HTMLInputElement>('ga-threshold').value);
}

function visibleDetections(): DrawnDetection[] {
  const threshold = scoreThreshold();
  return detections.filter((d) => d.score >= threshold);
}

function redraw(): void {
  if (!image) return;
  const level = $<HTMLSelectElement>('ga-level').value;
  const shown = visibleDetections();
  drawScene(view, {
    image,
    detections: shown,
    ...(levels
      ? {
          guided: {
            levels,
            mapLevel: level === 'none' ? null : level === 'max' ? 'max' : Number(level),
            threshold: locationThreshold(),
            showKept: $<HTMLInputElement>('ga-show-kept').checked,
            centerOffset: model?.guided?.options.centerOffset ?? 0,
          },
        }
      : {}),
    ...(model?.meta ? { metaAnchors: model.meta.anchorSizes(0) } : {}),
    ...(hover ? { hover } : {}),
  });
  $('detections-summary').textContent = `${shown.length} of ${detections.length} detections drawn`;
  const list = $('detections');
  list.replaceChildren(
    ...shown.slice(0, 50).map((d) => {
      const item = document.createElement('li');
      item.textContent = `${d.className} ${d.score.toFixed(3)} [${d.box.map((v) => v.toFixed(1)).join(', ')}]`;
      return item;
    }),
  );
  if (levels) {
    const kept = countKeptAnchors(levels, locationThreshold());
    const total = countKeptAnchors(levels, 0);
    const info = $('ga-info');
    info.textContent = `kept anchors (p ≥ εL): ${kept} of ${total} locations`;
    info.dataset.kept = String(kept);
  }
  if (hover && levels) {
    const near = nearestLocations(levels, hover, model?.guided?.options.centerOffset ?? 0);
    $('ga-info').textContent += ` · at (${hover.x.toFixed(0)}, ${hover.y.toFixed(0)}): ${near
      .map(
        (n) =>
          `P${n.level + 3} p=${n.probability.toFixed(3)} ${n.width.toFixed(0)}×${n.height.toFixed(0)}`,
      )
      .join(', ')}`;
  }
}

/** Runs the detector (and GA's maps) on the current image; calls are queued, never overlapped. */
function detect(options: { maps?: boolean } = {}): Promise<void> {
  queue = queue.then(async () => {
    if (!model || !input || !image) {
      redraw();
      return;
    }
    document.body.dataset.state = 'busy';
    try {
      const started = performance.now();
      const [result] = model.detector.predict(input, [[image.height, image.width]]);
      lastMs = performance.now() - started;
      const names = model.info.classNames;
      detections = [];
      if (result) {
        for (let i = 0; i < result.scores.length; i++) {
          const label = result.labels[i] as number;
          detections.push({
            box: Array.from(result.boxes.slice(i * 4, i * 4 + 4)) as DrawnDetection['box'],
            score: result.scores[i] as number,
            label,
            className: names[label] ?? `class ${label}`,
          });
        }
      }
      if (model.guided && (options.maps || !levels))
        levels = await guidedAnchorMaps(model.detector, input);
      if (!model.guided) levels = undefined;
      runs += 1;
      $('timing').textContent = `inference: ${lastMs.toFixed(0)} ms`;
      setStatus(`${model.name} on ${image.name}`);
      redraw();
    } catch (error) {
      setStatus((error as Error).message, 'error');
      console.error(error);
    } finally {
      document.body.dataset.state = 'ready';
      document.body.dataset.runs = String(runs);
    }
  });
  return queue;
}

function setImage(next: SceneImage): Promise<void> {
  image = next;
  input?.dispose();
  const normalization = resolveNormalization();
  input = tf.tensor4d(normalizePixels(next.pixels, normalization, 4), [
    1,
    next.height,
    next.width,
    3,
  ]);
  levels = undefined;
  hover = undefined;
  view.width = next.width * displayScale(next);
  view.height = next.height * displayScale(next);
  $('drop-hint').hidden = true;
  return detect({ maps: true });
}

function displayScale(of: SceneImage): number {
  return Math.max(1, Math.floor(640 / Math.max(of.width, of.height)));
}

/** Val image `index` of det's embedded synthetic dataset, rendered in the page, bit for bit. */
function sampleImage(index: number): SceneImage {
  const { seed, width, height } = defaultSyntheticOptions;
  const rendered = renderSyntheticImageAt(
    { ...defaultRenderOptions, width, height },
    seed,
    'val',
    index,
  );
  const pixels = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    pixels[p * 4] = rendered.rgb[p * 3]!;
    pixels[p * 4 + 1] = rendered.rgb[p * 3 + 1]!;
    pixels[p * 4 + 2] = rendered.rgb[p * 3 + 2]!;
    pixels[p * 4 + 3] = 255;
  }
  return { width, height, pixels, name: `val ${String(index + 1).padStart(6, '0')}.png` };
}

async function imageFromFile(file: File): Promise<SceneImage> {
  const bitmap = await createImageBitmap(file);
  const factor = Math.min(1, maxInputSide / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * factor));
  const height = Math.max(1, Math.round(bitmap.height * factor));
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  if (!context) throw new Error('playground: no 2d canvas');
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const pixels = context.getImageData(0, 0, width, height).data;
  return {
    width,
    height,
    pixels,
    name: factor < 1 ? `${file.name} (scaled to ${width}×${height})` : file.name,
  };
}

function describeModel(loaded: LoadedModel): string {
  const { config } = loaded.info;
  const head = config.kind === 'single-stage' ? config.head : config.proposals;
  const scheme = 'anchorScheme' in head && head.anchorScheme ? head.anchorScheme.type : 'dense';
  const source =
    loaded.info.source?.iteration !== undefined
      ? `, iteration ${loaded.info.source.iteration}`
      : '';
  return `${loaded.name}: ${config.kind}, ${scheme} anchors, ${loaded.info.classNames.length} classes (${loaded.info.classNames.join(', ')})${source}`;
}

function anchorEditorState(): AnchorEditorState {
  return {
    scales: $<HTMLInputElement>('meta-scales').value,
    ratios: $<HTMLInputElement>('meta-ratios').value,
    explicit: $<HTMLTextAreaElement>('meta-explicit').value,
    logScale: Number($<HTMLInputElement>('meta-scale').value),
    logStretch: Number($<HTMLInputElement>('meta-stretch').value),
  };
}

function fillPreset(name: MetaAnchorPresetName): void {
  const preset = metaAnchorPresets[name];
  $<HTMLInputElement>('meta-scales').value = formatList(preset.scales);
  $<HTMLInputElement>('meta-ratios').value = formatList(preset.ratios);
  $<HTMLTextAreaElement>('meta-explicit').value = '';
  $<HTMLInputElement>('meta-scale').value = '0';
  $<HTMLInputElement>('meta-stretch').value = '0';
}

/** Applies the editor's anchor set to the MetaAnchor head and redetects (same weights). */
function applyAnchors(): Promise<void> {
  const meta = model?.meta;
  if (!meta) return Promise.resolve();
  const state = anchorEditorState();
  $('meta-scale-value').textContent = (2 ** state.logScale).toFixed(2);
  $('meta-stretch-value').textContent = (2 ** state.logStretch).toFixed(2);
  const info = $('meta-info');
  try {
    meta.setInferenceAnchors(anchorSetOf(state));
  } catch (error) {
    info.textContent = (error as Error).message;
    info.classList.add('error');
    return Promise.resolve();
  }
  info.classList.remove('error');
  const sizes = meta.anchorSizes(0);
  info.textContent = `${sizes.length} anchors on P3 (h×w): ${sizes
    .slice(0, 12)
    .map((s) => `${s.height.toFixed(0)}×${s.width.toFixed(0)}`)
    .join(' ')}${sizes.length > 12 ? ' …' : ''}`;
  drawAnchorShapes($<HTMLCanvasElement>('anchor-shapes'), sizes);
  return detect();
}

function setupMetaPanel(loaded: LoadedModel): void {
  const panel = $('meta-panel');
  panel.hidden = !loaded.meta;
  if (!loaded.meta) return;
  const { config } = loaded.info;
  const head = config.kind === 'single-stage' ? config.head : config.proposals;
  const scheme =
    'anchorScheme' in head
      ? (head.anchorScheme as { inferenceAnchors?: unknown; anchors?: unknown })
      : {};
  const anchors = scheme.inferenceAnchors ?? scheme.anchors;
  if (typeof anchors === 'string' && anchors in metaAnchorPresets) {
    fillPreset(anchors as MetaAnchorPresetName);
  } else {
    fillPreset('3x3');
    $<HTMLTextAreaElement>('meta-explicit').value = loaded.meta
      .anchorSizes(0)
      .map((s) => `${s.height.toFixed(1)}, ${s.width.toFixed(1)}`)
      .join('\n');
  }
  const presets = $('meta-presets');
  presets.replaceChildren(
    ...(Object.keys(metaAnchorPresets) as MetaAnchorPresetName[]).map((name) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `${name.replace('x', '×')} (Table 1)`;
      button.dataset.preset = name;
      button.addEventListener('click', () => {
        fillPreset(name);
        void applyAnchors();
      });
      return button;
    }),
  );
  drawAnchorShapes($<HTMLCanvasElement>('anchor-shapes'), loaded.meta.anchorSizes(0));
  void applyAnchors();
}

function setupGuidedPanel(loaded: LoadedModel): void {
  const panel = $('guided-panel');
  panel.hidden = !loaded.guided;
  if (!loaded.guided) return;
  const strides = loaded.guided.strides;
  const select = $<HTMLSelectElement>('ga-level');
  select.replaceChildren(
    ...[
      ['max', 'max over levels'],
      ...strides.map((stride, level) => [String(level), `P${level + 3} (stride ${stride})`]),
      ['none', 'none'],
    ].map(([value, label]) => {
      const option = document.createElement('option');
      option.value = value as string;
      option.textContent = label as string;
      return option;
    }),
  );
  const threshold = loaded.guided.options.locationThreshold ?? 0.01;
  $<HTMLInputElement>('ga-threshold').value = String(Math.log10(Math.max(threshold, 0.001)));
  $('ga-threshold-value').textContent = threshold.toFixed(3);
}

async function loadModelFiles(files: readonly File[]): Promise<void> {
  const tensors = files.find((file) => file.name.endsWith('.safetensors'));
  const json = files.find((file) => file.name.endsWith('.json'));
  if (!tensors) {
    setStatus('give the model.safetensors file (and its model.json)', 'error');
    return;
  }
  setStatus(`loading ${tensors.name}…`);
  await queue;
  try {
    const bytes = new Uint8Array(await tensors.arrayBuffer());
    const description = json ? JSON.parse(await json.text()) : undefined;
    const { detector, info } = await loadExportedDetector(bytes, description, tensors.name);
    model?.detector.dispose();
    const meta = metaAnchorFunctionOf(detector);
    const guided = guidedAnchorFunctionOf(detector);
    model = {
      detector,
      info,
      name: tensors.name,
      ...(meta ? { meta } : {}),
      ...(guided ? { guided } : {}),
    };
    $('model-info').textContent = describeModel(model);
    levels = undefined;
    setupGuidedPanel(model);
    setupMetaPanel(model);
    if (!image) await setImage(sampleImage(0));
    else await detect({ maps: true });
  } catch (error) {
    setStatus((error as Error).message, 'error');
    console.error(error);
  }
}

async function handleFiles(files: readonly File[]): Promise<void> {
  const modelFiles = files.filter((f) => /\.(safetensors|json)$/.test(f.name));
  const imageFile = files.find((f) => f.type.startsWith('image/'));
  if (modelFiles.length > 0) await loadModelFiles(modelFiles);
  if (imageFile) await setImage(await imageFromFile(imageFile));
}

function setupSamples(): void {
  const container = $('samples');
  for (let index = 0; index < sampleCount; index++) {
    const sample = sampleImage(index);
    const thumb = document.createElement('canvas');
    thumb.width = sample.width;
    thumb.height = sample.height;
    thumb.title = sample.name;
    thumb.dataset.sample = String(index);
    thumb
      .getContext('2d')
      ?.putImageData(new ImageData(sample.pixels, sample.width, sample.height), 0, 0);
    thumb.addEventListener('click', () => void setImage(sampleImage(index)));
    container.append(thumb);
  }
}

function setupEvents(): void {
  $<HTMLInputElement>('model-files').addEventListener('change', (event) => {
    const files = [...((event.target as HTMLInputElement).files ?? [])];
    void loadModelFiles(files);
  });
  $<HTMLInputElement>('image-file').addEventListener('change', async (event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (file) await setImage(await imageFromFile(file));
  });
  $<HTMLInputElement>('score').addEventListener('input', () => {
    $('score-value').textContent = scoreThreshold().toFixed(2);
    redraw();
  });
  for (const id of ['meta-scale', 'meta-stretch', 'meta-scales', 'meta-ratios', 'meta-explicit']) {
    $(id).addEventListener('input', () => void applyAnchors());
  }
  $<HTMLInputElement>('ga-threshold').addEventListener('input', () => {
    const threshold = locationThreshold();
    $('ga-threshold-value').textContent = threshold.toFixed(3);
    model?.guided?.setLocationThreshold(threshold);
    redraw();
    void detect();
  });
  $('ga-level').addEventListener('change', redraw);
  $('ga-show-kept').addEventListener('change', redraw);
  view.addEventListener('mousemove', (event) => {
    if (!image) return;
    const rect = view.getBoundingClientRect();
    hover = {
      x: ((event.clientX - rect.left) / rect.width) * image.width,
      y: ((event.clientY - rect.top) / rect.height) * image.height,
    };
    redraw();
  });
  view.addEventListener('mouseleave', () => {
    hover = undefined;
    redraw();
  });
  for (const type of ['dragenter', 'dragover'] as const) {
    document.addEventListener(type, (event) => {
      event.preventDefault();
      $('drop').classList.add('dragging');
    });
  }
  document.addEventListener('dragleave', () => $('drop').classList.remove('dragging'));
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    $('drop').classList.remove('dragging');
    void handleFiles([...(event.dataTransfer?.files ?? [])]);
  });
}

/** What the e2e test (and a curious person in the console) reads. */
const api = {
  backend: () => backend,
  runs: () => runs,
  /** Resolves when every queued inference has finished. */
  idle: () => queue,
  inferenceMs: () => lastMs,
  detections: () => visibleDetections(),
  allDetections: () => detections,
  keptAnchors: () => (levels ? countKeptAnchors(levels, locationThreshold()) : undefined),
  metaAnchors: () => model?.meta?.anchorSizes(0),
  image: () => (image ? { name: image.name, width: image.width, height: image.height } : undefined),
  imagePixels: () => image?.pixels,
  setHover: (point: { x: number; y: number } | undefined) => {
    hover = point;
    redraw();
  },
};
(window as unknown as { detPlayground: typeof api }).detPlayground = api;

async function start(): Promise<void> {
  setupEvents();
  setupSamples();
  const forced = new URLSearchParams(location.search).get('backend');
  try {
    // WebGPU when the browser has it (tfjs-backend-webgpu registers itself on import), else wasm.
    if (forced !== 'wasm' && forced !== 'cpu' && 'gpu' in navigator) {
      await import('@tensorflow/tfjs-backend-webgpu');
    }
    backend = await initBackend(
      forced
        ? {
            backend: forced as NonNullable<Parameters<typeof initBackend>[0]>['backend'],
            // Asked for by name: a software adapter (SwiftShader, lavapipe) is taken too.
            allowSoftwareAdapter: forced === 'webgpu',
          }
        : {},
    );
    const badge = $('backend');
    badge.textContent = `backend: ${backend.name} · ${backend.device}`;
    badge.dataset.backend = backend.name;
    setStatus('load a model (det export) to start');
    document.body.dataset.state = 'ready';
    await setImage(sampleImage(0));
  } catch (error) {
    setStatus((error as Error).message, 'error');
    document.body.dataset.state = 'error';
    console.error(error);
  }
}

void start();
