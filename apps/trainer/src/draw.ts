import type { CocoResult } from '@det/coco-eval';
import type { DetectionRecord } from '@det/data';
import sharp from 'sharp';

const palette = [
  '#e6194b',
  '#3cb44b',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#42d4f4',
  '#f032e6',
  '#bfef45',
];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * An image with boxes drawn by sharp (an SVG overlay composited onto the decoded file):
 * predictions in class colours with label and score, ground truth dashed white.
 */
export async function drawDetections(options: {
  file: string;
  width: number;
  height: number;
  /** COCO `[x, y, w, h]` in original pixels. */
  predictions: readonly { bbox: ArrayLike<number>; label: string; score: number; colour: number }[];
  groundTruth?: readonly number[][];
  /** Output width (keeps the aspect ratio). */
  outputWidth?: number;
}): Promise<Buffer> {
  const { width, height } = options;
  const stroke = Math.max(1, Math.round(Math.min(width, height) / 160));
  const font = Math.max(8, Math.round(Math.min(width, height) / 28));
  const shapes: string[] = [];
  for (const [x, y, w, h] of options.groundTruth ?? []) {
    shapes.push(
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="#ffffff" stroke-width="${stroke}" stroke-dasharray="${stroke * 3},${stroke * 2}"/>`,
    );
  }
  for (const prediction of options.predictions) {
    const [x, y, w, h] = Array.from(prediction.bbox) as [number, number, number, number];
    const colour = palette[prediction.colour % palette.length]!;
    shapes.push(
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`,
      `<text x="${x + stroke}" y="${Math.max(font, y - stroke)}" font-family="sans-serif" font-size="${font}" fill="${colour}">${escapeXml(prediction.label)} ${prediction.score.toFixed(2)}</text>`,
    );
  }
  const overlay = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes.join('')}</svg>`,
  );
  let image = sharp(options.file).composite([{ input: overlay, top: 0, left: 0 }]);
  if (options.outputWidth) {
    image = sharp(await image.png().toBuffer()).resize({ width: options.outputWidth });
  }
  return image.png().toBuffer();
}

/** Draws each record's results (score ≥ `minScore`) and ground truth. */
export async function drawRecords(options: {
  records: readonly DetectionRecord[];
  results: readonly CocoResult[];
  categoryIds: readonly number[];
  classNames: readonly string[];
  minScore: number;
  outputWidth?: number;
}): Promise<Buffer[]> {
  const byImage = new Map<number, CocoResult[]>();
  for (const result of options.results) {
    if (result.score < options.minScore) continue;
    const list = byImage.get(result.image_id) ?? [];
    list.push(result);
    byImage.set(result.image_id, list);
  }
  return Promise.all(
    options.records.map((record) => {
      const groundTruth: number[][] = [];
      for (let i = 0; i < record.boxes.length / 4; i++) {
        const [x1, y1, x2, y2] = record.boxes.subarray(i * 4, i * 4 + 4);
        groundTruth.push([x1!, y1!, x2! - x1!, y2! - y1!]);
      }
      return drawDetections({
        file: record.filePath,
        width: record.width,
        height: record.height,
        groundTruth,
        predictions: (byImage.get(record.imageId) ?? []).map((result) => {
          const label = options.categoryIds.indexOf(result.category_id);
          return {
            bbox: result.bbox,
            label: options.classNames[label] ?? String(result.category_id),
            score: result.score,
            colour: Math.max(label, 0),
          };
        }),
        ...(options.outputWidth ? { outputWidth: options.outputWidth } : {}),
      });
    }),
  );
}

/** Tiles equally sized PNG tiles into a grid of `columns`. */
export async function tileGrid(tiles: readonly Buffer[], columns: number): Promise<Buffer> {
  if (tiles.length === 0) throw new Error('tileGrid: no images');
  const sizes = await Promise.all(tiles.map((tile) => sharp(tile).metadata()));
  const cellWidth = Math.max(...sizes.map((size) => size.width ?? 0));
  const cellHeight = Math.max(...sizes.map((size) => size.height ?? 0));
  const rows = Math.ceil(tiles.length / columns);
  const gap = 4;
  return sharp({
    create: {
      width: columns * cellWidth + (columns - 1) * gap,
      height: rows * cellHeight + (rows - 1) * gap,
      channels: 3,
      background: '#202020',
    },
  })
    .composite(
      tiles.map((input, index) => ({
        input,
        left: (index % columns) * (cellWidth + gap),
        top: Math.floor(index / columns) * (cellHeight + gap),
      })),
    )
    .png()
    .toBuffer();
}
