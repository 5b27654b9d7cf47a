import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';

/** A histogram over equal-width bins of `[min, max)`; values outside go to the end bins. */
export interface Histogram {
  edges: number[];
  counts: number[];
  /** counts / total (all zeros when empty). */
  frequencies: number[];
}

/** Histogram of `values` in `bins` equal bins over `[min, max]`. */
export function histogram(
  values: ArrayLike<number>,
  options: { min: number; max: number; bins: number },
): Histogram {
  const { min, max, bins } = options;
  if (!(max > min) || !(Number.isInteger(bins) && bins > 0)) {
    throw new Error(
      `histogram: need max > min and an integer bins > 0, got min=${min} max=${max} bins=${bins}`,
    );
  }
  const width = (max - min) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) continue;
    const bin = Math.min(Math.max(Math.floor((v - min) / width), 0), bins - 1);
    counts[bin] = (counts[bin] as number) + 1;
  }
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    edges: Array.from({ length: bins + 1 }, (_, i) => min + i * width),
    counts,
    frequencies: counts.map((c) => (total ? c / total : 0)),
  };
}

/** log2 scale √(wh) and log2 aspect ratio h/w of xyxy boxes given as a flat `[N·4]` array. */
export function boxShapeStatistics(boxes: ArrayLike<number>): {
  log2Scale: Float64Array;
  log2Ratio: Float64Array;
} {
  const n = Math.floor(boxes.length / 4);
  const log2Scale = new Float64Array(n);
  const log2Ratio = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const w = (boxes[4 * i + 2] as number) - (boxes[4 * i] as number);
    const h = (boxes[4 * i + 3] as number) - (boxes[4 * i + 1] as number);
    log2Scale[i] = w > 0 && h > 0 ? Math.log2(Math.sqrt(w * h)) : Number.NaN;
    log2Ratio[i] = w > 0 && h > 0 ? Math.log2(h / w) : Number.NaN;
  }
  return { log2Scale, log2Ratio };
}

export interface ShapeHistogramOptions {
  /** Predicted anchors, flat xyxy `[N·4]` (e.g. the guided anchors at kept locations). */
  anchors: ArrayLike<number>;
  /** Ground-truth boxes, flat xyxy `[G·4]`. */
  gtBoxes: ArrayLike<number>;
  /** Range of log2 scale. Default [2, 10] (4 to 1024 px). */
  scaleRange?: [number, number];
  /** Range of log2 aspect ratio. Default [-4, 4] (1:16 to 16:1). */
  ratioRange?: [number, number];
  /** Bins per histogram. Default 32. */
  bins?: number;
}

export interface ShapeHistograms {
  scale: { anchors: Histogram; gt: Histogram };
  ratio: { anchors: Histogram; gt: Histogram };
}

/** The scale and aspect-ratio distributions of predicted anchors and ground truth (GA Fig. 4 / 6). */
export function shapeHistograms(options: ShapeHistogramOptions): ShapeHistograms {
  const bins = options.bins ?? 32;
  const [smin, smax] = options.scaleRange ?? [2, 10];
  const [rmin, rmax] = options.ratioRange ?? [-4, 4];
  const a = boxShapeStatistics(options.anchors);
  const g = boxShapeStatistics(options.gtBoxes);
  return {
    scale: {
      anchors: histogram(a.log2Scale, { min: smin, max: smax, bins }),
      gt: histogram(g.log2Scale, { min: smin, max: smax, bins }),
    },
    ratio: {
      anchors: histogram(a.log2Ratio, { min: rmin, max: rmax, bins }),
      gt: histogram(g.log2Ratio, { min: rmin, max: rmax, bins }),
    },
  };
}

function panelSvg(
  title: string,
  axis: string,
  pair: { anchors: Histogram; gt: Histogram },
  x0: number,
): string {
  const width = 420;
  const height = 240;
  const top = 30;
  const plotH = height - 70;
  const bins = pair.anchors.counts.length;
  const barW = (width - 40) / bins;
  const peak = Math.max(...pair.anchors.frequencies, ...pair.gt.frequencies, 1e-9);
  const bars = (h: Histogram, colour: string, offset: number) =>
    h.frequencies
      .map((f, i) => {
        const barH = (f / peak) * plotH;
        return `<rect x="${(x0 + 30 + i * barW + offset).toFixed(1)}" y="${(top + plotH - barH).toFixed(1)}" width="${(barW / 2).toFixed(1)}" height="${barH.toFixed(1)}" fill="${colour}"/>`;
      })
      .join('');
  const first = pair.anchors.edges[0] as number;
  const last = pair.anchors.edges[bins] as number;
  return [
    `<text x="${x0 + 30}" y="20" font-size="14">${title}</text>`,
    bars(pair.gt, '#4c72b0', 0),
    bars(pair.anchors, '#dd8452', barW / 2),
    `<line x1="${x0 + 30}" y1="${top + plotH}" x2="${x0 + width - 10}" y2="${top + plotH}" stroke="black"/>`,
    `<text x="${x0 + 30}" y="${top + plotH + 16}" font-size="11">${first}</text>`,
    `<text x="${x0 + width - 30}" y="${top + plotH + 16}" font-size="11">${last}</text>`,
    `<text x="${x0 + 150}" y="${top + plotH + 32}" font-size="12">${axis}</text>`,
  ].join('\n');
}

/** An SVG of the two histograms (scale, aspect ratio), GT in blue, predicted anchors in orange. */
export function shapeHistogramsSvg(histograms: ShapeHistograms): string {
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="860" height="260" font-family="sans-serif">',
    '<rect width="860" height="260" fill="white"/>',
    panelSvg('Anchor scale: GT (blue) vs predicted (orange)', 'log2 √(wh)', histograms.scale, 0),
    panelSvg(
      'Aspect ratio: GT (blue) vs predicted (orange)',
      'log2 (h / w)',
      histograms.ratio,
      430,
    ),
    '</svg>',
  ].join('\n');
}

/** A plain-text table of the same histograms (bin start, GT count, anchor count). */
export function shapeHistogramsText(histograms: ShapeHistograms): string {
  const table = (name: string, pair: { anchors: Histogram; gt: Histogram }) => [
    `# ${name}`,
    'bin_start\tgt\tanchors',
    ...pair.gt.counts.map(
      (c, i) => `${(pair.gt.edges[i] as number).toFixed(3)}\t${c}\t${pair.anchors.counts[i]}`,
    ),
  ];
  return [
    ...table('log2 scale', histograms.scale),
    '',
    ...table('log2 aspect ratio', histograms.ratio),
    '',
  ].join('\n');
}

/** Writes `<prefix>shape-histograms.svg` and `.txt` into `outDir`; returns their paths. */
export async function writeShapeHistograms(
  outDir: string,
  options: ShapeHistogramOptions & { prefix?: string },
): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const histograms = shapeHistograms(options);
  const base = join(outDir, `${options.prefix ?? ''}shape-histograms`);
  await writeFile(`${base}.svg`, shapeHistogramsSvg(histograms));
  await writeFile(`${base}.txt`, shapeHistogramsText(histograms));
  return [`${base}.svg`, `${base}.txt`];
}

/** Maps p ∈ [0, 1] to a blue → green → yellow → red colour ramp (RGB bytes). */
function heatColour(p: number): [number, number, number] {
  const t = Math.min(Math.max(p, 0), 1);
  const r = Math.round(255 * Math.min(Math.max(1.5 - Math.abs(4 * t - 3), 0), 1));
  const g = Math.round(255 * Math.min(Math.max(1.5 - Math.abs(4 * t - 2), 0), 1));
  const b = Math.round(255 * Math.min(Math.max(1.5 - Math.abs(4 * t - 1), 0), 1));
  return [r, g, b];
}

export interface LocationHeatmapOptions {
  /** Per level `[B, H, W]` or `[B, H, W, 1]` location logits (or probabilities with `probabilities: true`). */
  locationMaps: readonly tf.Tensor[];
  /** The values are already probabilities. Default false (logits, sigmoid applied). */
  probabilities?: boolean;
  /** Which image of the batch. Default 0. */
  imageIndex?: number;
  /** `[height, width]` of the network input the maps cover. */
  imageSize: readonly [number, number];
  /** The image to draw under the heat map: an encoded file (path or buffer) or raw RGB(A) pixels. */
  image?:
    | string
    | Uint8Array
    | { data: Uint8Array; width: number; height: number; channels: 3 | 4 };
  /** Heat-map opacity over the image. Default 0.55. */
  opacity?: number;
  outDir: string;
  /** File-name prefix. Default ''. Files are `<prefix>location-p<level>.png`. */
  prefix?: string;
}

/**
 * Writes one PNG per level: the location probability p(i, j | F) (GA §3.1) as a heat map,
 * resized to the input and blended over the image when one is given. Returns the paths.
 */
export async function writeLocationHeatmaps(options: LocationHeatmapOptions): Promise<string[]> {
  const { locationMaps, imageSize, outDir } = options;
  const [height, width] = imageSize;
  const imageIndex = options.imageIndex ?? 0;
  const opacity = options.opacity ?? 0.55;
  await mkdir(outDir, { recursive: true });
  let background: Buffer | null = null;
  if (options.image !== undefined) {
    const source = options.image;
    const input =
      typeof source === 'string' || source instanceof Uint8Array
        ? sharp(source)
        : sharp(Buffer.from(source.data), {
            raw: { width: source.width, height: source.height, channels: source.channels },
          });
    background = await input.resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  }
  const paths: string[] = [];
  for (const [level, map] of locationMaps.entries()) {
    if (map.rank !== 3 && !(map.rank === 4 && map.shape[3] === 1)) {
      throw new Error(
        `writeLocationHeatmaps: locationMaps[${level}] must be [B, H, W] or [B, H, W, 1], got [${map.shape.join(', ')}]`,
      );
    }
    const [batch, mapH, mapW] = map.shape as [number, number, number];
    if (imageIndex < 0 || imageIndex >= batch) {
      throw new Error(
        `writeLocationHeatmaps: imageIndex ${imageIndex} outside a batch of ${batch}`,
      );
    }
    const values = tf.tidy(() => {
      const one = tf.reshape(tf.slice(map, [imageIndex], [1]), [mapH, mapW]);
      return options.probabilities ? one : tf.sigmoid(one);
    });
    const probabilities = await values.data();
    values.dispose();
    const rgb = Buffer.alloc(mapH * mapW * 3);
    probabilities.forEach((p, i) => {
      rgb.set(heatColour(p), 3 * i);
    });
    let heat = await sharp(rgb, { raw: { width: mapW, height: mapH, channels: 3 } })
      .resize(width, height, { fit: 'fill', kernel: 'nearest' })
      .raw()
      .toBuffer();
    if (background) {
      const blended = Buffer.alloc(heat.length);
      for (let i = 0; i < heat.length; i++) {
        blended[i] = Math.round(
          opacity * (heat[i] as number) + (1 - opacity) * (background[i] as number),
        );
      }
      heat = blended;
    }
    const path = join(outDir, `${options.prefix ?? ''}location-p${level}.png`);
    await sharp(heat, { raw: { width, height, channels: 3 } })
      .png()
      .toFile(path);
    paths.push(path);
  }
  return paths;
}
