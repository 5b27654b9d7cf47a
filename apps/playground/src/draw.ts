import type { GuidedAnchorLevel } from '@det/detectors';

export interface SceneImage {
  width: number;
  height: number;
  /** RGBA, row-major (a canvas' ImageData). */
  pixels: Uint8ClampedArray<ArrayBuffer>;
  name: string;
}

export interface DrawnDetection {
  /** xyxy in image pixels. */
  box: [number, number, number, number];
  score: number;
  label: number;
  className: string;
}

export interface GuidedOverlay {
  levels: readonly GuidedAnchorLevel[];
  /** Level whose p map is drawn, 'max' for the maximum over levels, null for none. */
  mapLevel: number | 'max' | null;
  threshold: number;
  showKept: boolean;
  /** Location i is centred at (i + centerOffset)·stride. */
  centerOffset: number;
}

export interface Scene {
  image: SceneImage;
  detections: readonly DrawnDetection[];
  guided?: GuidedOverlay;
  /** MetaAnchor's inference anchors on P3 (drawn at the hovered point). */
  metaAnchors?: readonly { height: number; width: number }[];
  hover?: { x: number; y: number };
}

const palette = ['#ff595e', '#ffca3a', '#8ac926', '#1982c4', '#6a4c93', '#ff924c', '#52a675'];
const levelColors = ['#00e5ff', '#ffd400', '#ff3df2', '#7cff4d', '#ff8c00', '#ffffff'];
/** Kept anchors drawn at most (the most likely first). */
export const maxKeptDrawn = 150;

function context2d(canvas: HTMLCanvasElement | OffscreenCanvas) {
  const context = canvas.getContext('2d') as CanvasRenderingContext2D | null;
  if (!context) throw new Error('playground: no 2d canvas context');
  return context;
}

/** A probability in [0, 1] as a translucent heat colour (transparent → red → yellow). */
function heat(p: number): [number, number, number, number] {
  const t = Math.min(1, Math.max(0, p));
  return [255, Math.round(255 * Math.max(0, t * 2 - 1)), 0, Math.round(150 * t)];
}

function drawLocationMap(
  context: CanvasRenderingContext2D,
  overlay: GuidedOverlay,
  scale: number,
): void {
  const { levels, mapLevel, centerOffset } = overlay;
  if (mapLevel === null || levels.length === 0) return;
  // 'max': every level resampled onto the finest grid, the maximum p drawn.
  const base = mapLevel === 'max' ? levels[0]! : levels[mapLevel];
  if (!base) return;
  const { width, height, stride } = base;
  const values = new Float32Array(width * height);
  const sources = mapLevel === 'max' ? levels : [base];
  for (const level of sources) {
    const factor = level.stride / stride;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const ly = Math.min(level.height - 1, Math.floor(y / factor));
        const lx = Math.min(level.width - 1, Math.floor(x / factor));
        const p = level.probabilities[ly * level.width + lx] as number;
        if (p > (values[y * width + x] as number)) values[y * width + x] = p;
      }
    }
  }
  const map = new OffscreenCanvas(width, height);
  const pixels = new ImageData(width, height);
  values.forEach((p, i) => {
    pixels.data.set(heat(p), i * 4);
  });
  context2d(map).putImageData(pixels, 0, 0);
  context.save();
  context.imageSmoothingEnabled = false;
  // Cell i covers [(i + offset − ½)·s, (i + offset + ½)·s].
  const shift = (centerOffset - 0.5) * stride * scale;
  context.drawImage(map, shift, shift, width * stride * scale, height * stride * scale);
  context.restore();
}

function strokeBox(
  context: CanvasRenderingContext2D,
  box: readonly number[],
  scale: number,
  color: string,
  width = 2,
  dash: number[] = [],
): void {
  const [x0, y0, x1, y1] = box as [number, number, number, number];
  context.save();
  context.strokeStyle = color;
  context.lineWidth = width;
  context.setLineDash(dash);
  context.strokeRect(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale);
  context.restore();
}

/** The location nearest to `point` on each level, its p and its predicted anchor. */
export function nearestLocations(
  levels: readonly GuidedAnchorLevel[],
  point: { x: number; y: number },
  centerOffset: number,
): { level: number; probability: number; anchor: number[]; width: number; height: number }[] {
  return levels.map((level, index) => {
    const x = Math.min(
      level.width - 1,
      Math.max(0, Math.round(point.x / level.stride - centerOffset)),
    );
    const y = Math.min(
      level.height - 1,
      Math.max(0, Math.round(point.y / level.stride - centerOffset)),
    );
    const row = y * level.width + x;
    const anchor = Array.from(level.anchors.slice(row * 4, row * 4 + 4));
    return {
      level: index,
      probability: level.probabilities[row] as number,
      anchor,
      width: (anchor[2] as number) - (anchor[0] as number),
      height: (anchor[3] as number) - (anchor[1] as number),
    };
  });
}

/** The image, GA's location map and anchors, MetaAnchor's anchors at the cursor, detections. */
export function drawScene(canvas: HTMLCanvasElement, scene: Scene): void {
  const { image } = scene;
  const scale = canvas.width / image.width;
  const context = context2d(canvas);
  const source = new OffscreenCanvas(image.width, image.height);
  context2d(source).putImageData(new ImageData(image.pixels, image.width, image.height), 0, 0);
  context.save();
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  context.restore();

  const { guided } = scene;
  if (guided) {
    drawLocationMap(context, guided, scale);
    if (guided.showKept) {
      // The most likely kept anchors only: hundreds of boxes hide the image.
      const kept: { level: number; row: number; p: number }[] = [];
      guided.levels.forEach((level, index) => {
        level.probabilities.forEach((p, row) => {
          if (guided.threshold <= 0 || p >= guided.threshold) kept.push({ level: index, row, p });
        });
      });
      kept.sort((a, b) => b.p - a.p);
      for (const { level, row } of kept.slice(0, maxKeptDrawn)) {
        const anchors = guided.levels[level]!.anchors;
        strokeBox(
          context,
          Array.from(anchors.slice(row * 4, row * 4 + 4)),
          scale,
          `${levelColors[level % levelColors.length]}66`,
          1,
        );
      }
    }
  }

  if (scene.hover) {
    const { x, y } = scene.hover;
    if (guided) {
      for (const near of nearestLocations(guided.levels, scene.hover, guided.centerOffset)) {
        strokeBox(
          context,
          near.anchor,
          scale,
          levelColors[near.level % levelColors.length]!,
          2,
          [6, 4],
        );
      }
    } else if (scene.metaAnchors) {
      scene.metaAnchors.forEach((anchor, index) => {
        strokeBox(
          context,
          [
            x - anchor.width / 2,
            y - anchor.height / 2,
            x + anchor.width / 2,
            y + anchor.height / 2,
          ],
          scale,
          palette[index % palette.length]!,
          1.5,
          [5, 3],
        );
      });
    }
  }

  context.font = `${Math.max(11, Math.round(6 * scale))}px system-ui, sans-serif`;
  context.textBaseline = 'bottom';
  for (const detection of scene.detections) {
    const color = palette[detection.label % palette.length]!;
    strokeBox(context, detection.box, scale, color, 2);
    const label = `${detection.className} ${detection.score.toFixed(2)}`;
    const [x0, y0] = detection.box;
    const textWidth = context.measureText(label).width + 6;
    const top = Math.max(16, y0 * scale);
    context.fillStyle = color;
    context.fillRect(x0 * scale, top - 16, textWidth, 16);
    context.fillStyle = '#111';
    context.fillText(label, x0 * scale + 3, top - 2);
  }
}

/** The anchor set on P3 as concentric rectangles (to scale), for the MetaAnchor panel. */
export function drawAnchorShapes(
  canvas: HTMLCanvasElement,
  anchors: readonly { height: number; width: number }[],
): void {
  const context = context2d(canvas);
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = '#1b1f24';
  context.fillRect(0, 0, canvas.width, canvas.height);
  const largest = Math.max(1, ...anchors.flatMap((a) => [a.width, a.height]));
  const fit = (Math.min(canvas.width, canvas.height) - 10) / largest;
  anchors.forEach((anchor, index) => {
    const w = anchor.width * fit;
    const h = anchor.height * fit;
    context.strokeStyle = palette[index % palette.length]!;
    context.lineWidth = 1.5;
    context.strokeRect(canvas.width / 2 - w / 2, canvas.height / 2 - h / 2, w, h);
  });
  context.fillStyle = '#9aa4ae';
  context.font = '11px system-ui, sans-serif';
  context.fillText(`largest side ${largest.toFixed(0)} px on P3`, 6, canvas.height - 6);
}
