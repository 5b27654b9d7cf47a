import { createRandom, deriveSeed, type Random } from '../random';

/** The shape categories of the synthetic dataset, in label order (COCO ids are index + 1). */
export const syntheticCategoryNames = ['rectangle', 'ellipse', 'triangle', 'bar', 'ring'] as const;

export type SyntheticCategoryName = (typeof syntheticCategoryNames)[number];

/** How objects are drawn; every field has a documented default in `defaultRenderOptions`. */
export interface RenderOptions {
  width: number;
  height: number;
  /** Smallest object side scale √(w·h) in pixels. */
  minObjectScale: number;
  /** Largest object scale as a fraction of the shorter image side. */
  maxObjectScaleFraction: number;
  /**
   * Probability of an object falling in COCO's small (< 32), medium (32-96) and large (> 96)
   * scale bands; the scale is log-uniform inside a band.
   */
  scaleBandProbabilities: readonly [number, number, number];
  /** Largest aspect ratio (w/h or h/w), e.g. 8 for 1:8 to 8:1. */
  maxAspectRatio: number;
  /** Probability that an object's ratio is drawn from the full range instead of 1:2-2:1. */
  extremeAspectProbability: number;
  /** Objects per non-empty image are uniform in [1, maxObjectsPerImage]. */
  maxObjectsPerImage: number;
  /** Fraction of images with no object at all. */
  emptyImageProbability: number;
  /** Fraction of images holding one crowd region (many tiny shapes, `iscrowd: 1`). */
  crowdImageProbability: number;
  /**
   * A new object may cover at most this fraction of an earlier object's box, so occlusion
   * stays partial.
   */
  maxOcclusion: number;
}

export const defaultRenderOptions: Omit<RenderOptions, 'width' | 'height'> = {
  minObjectScale: 8,
  maxObjectScaleFraction: 0.8,
  scaleBandProbabilities: [0.3, 0.45, 0.25],
  maxAspectRatio: 8,
  extremeAspectProbability: 0.5,
  maxObjectsPerImage: 8,
  emptyImageProbability: 0.05,
  crowdImageProbability: 0.08,
  maxOcclusion: 0.35,
};

/** One annotated object of a rendered image; `box` is the tight xyxy box of its visible pixels. */
export interface RenderedObject {
  /** Index into `syntheticCategoryNames`. */
  category: number;
  box: [number, number, number, number];
  /** Number of visible pixels (the segmentation area COCO's area ranges use). */
  area: number;
  iscrowd: 0 | 1;
}

export interface RenderedImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major. */
  rgb: Uint8Array;
  objects: RenderedObject[];
  /** Per pixel: index into `objects` of the object that owns it, or -1 for background. */
  owner: Int16Array;
}

const noiseTableSize = 1 << 20;
let noiseTable: Int8Array | undefined;

/** A fixed table of uniform noise in [-64, 63]; images read it from a random offset. */
function getNoiseTable(): Int8Array {
  if (noiseTable) return noiseTable;
  noiseTable = new Int8Array(noiseTableSize);
  let state = 0x2545f491;
  for (let index = 0; index < noiseTableSize; index++) {
    // xorshift32: fast and good enough for pixel noise.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    noiseTable[index] = (state >>> 25) - 64;
  }
  return noiseTable;
}

type Rgb = [number, number, number];

function hsvToRgb(hue: number, saturation: number, value: number): Rgb {
  const sector = Math.floor(hue * 6);
  const fraction = hue * 6 - sector;
  const p = value * (1 - saturation);
  const q = value * (1 - fraction * saturation);
  const t = value * (1 - (1 - fraction) * saturation);
  const table: Rgb[] = [
    [value, t, p],
    [q, value, p],
    [p, value, t],
    [p, q, value],
    [t, p, value],
    [value, p, q],
  ];
  const [r, g, b] = table[sector % 6]!;
  return [r * 255, g * 255, b * 255];
}

/** Muted gradient, soft blotches, faint lines and pixel noise: clutter that is not an object. */
function paintBackground(image: Float32Array, width: number, height: number, random: Random): void {
  const grey = random.uniform(70, 170);
  const colourA: Rgb = [
    grey + random.uniform(-30, 30),
    grey + random.uniform(-30, 30),
    grey + random.uniform(-30, 30),
  ];
  const colourB: Rgb = [
    colourA[0] + random.uniform(-50, 50),
    colourA[1] + random.uniform(-50, 50),
    colourA[2] + random.uniform(-50, 50),
  ];
  const angle = random.uniform(0, Math.PI * 2);
  const dx = Math.cos(angle) / Math.max(width, height);
  const dy = Math.sin(angle) / Math.max(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = 0.5 + (x - width / 2) * dx + (y - height / 2) * dy;
      const offset = (y * width + x) * 3;
      image[offset] = colourA[0] + (colourB[0] - colourA[0]) * t;
      image[offset + 1] = colourA[1] + (colourB[1] - colourA[1]) * t;
      image[offset + 2] = colourA[2] + (colourB[2] - colourA[2]) * t;
    }
  }
  const blotches = random.integer(2, 5);
  for (let blotch = 0; blotch < blotches; blotch++) {
    const radius = random.uniform(0.1, 0.35) * Math.min(width, height);
    const centreX = random.uniform(0, width);
    const centreY = random.uniform(0, height);
    const shift: Rgb = [random.uniform(-30, 30), random.uniform(-30, 30), random.uniform(-30, 30)];
    const x0 = Math.max(0, Math.floor(centreX - radius));
    const x1 = Math.min(width, Math.ceil(centreX + radius));
    const y0 = Math.max(0, Math.floor(centreY - radius));
    const y1 = Math.min(height, Math.ceil(centreY + radius));
    const inverseRadiusSquared = 1 / (radius * radius);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const distance = ((x - centreX) ** 2 + (y - centreY) ** 2) * inverseRadiusSquared;
        if (distance >= 1) continue;
        const weight = (1 - distance) * (1 - distance);
        const offset = (y * width + x) * 3;
        image[offset] = image[offset]! + shift[0] * weight;
        image[offset + 1] = image[offset + 1]! + shift[1] * weight;
        image[offset + 2] = image[offset + 2]! + shift[2] * weight;
      }
    }
  }
  const lines = random.integer(4, 12);
  for (let line = 0; line < lines; line++) {
    const startX = random.uniform(0, width);
    const startY = random.uniform(0, height);
    const direction = random.uniform(0, Math.PI * 2);
    const length = random.uniform(0.1, 0.6) * Math.max(width, height);
    const shade = random.uniform(-35, 35);
    const steps = Math.ceil(length);
    for (let step = 0; step < steps; step++) {
      const x = Math.floor(startX + Math.cos(direction) * step);
      const y = Math.floor(startY + Math.sin(direction) * step);
      if (x < 0 || y < 0 || x >= width || y >= height) break;
      const offset = (y * width + x) * 3;
      image[offset] = image[offset]! + shade;
      image[offset + 1] = image[offset + 1]! + shade;
      image[offset + 2] = image[offset + 2]! + shade;
    }
  }
}

type Texture = 'solid' | 'stripes' | 'checker' | 'speckle';
const textures: readonly Texture[] = ['solid', 'stripes', 'checker', 'speckle'];

interface ObjectStyle {
  colour: Rgb;
  accent: Rgb;
  texture: Texture;
  period: number;
  stripeAngle: number;
}

function randomStyle(random: Random): ObjectStyle {
  const colour = hsvToRgb(random.next(), random.uniform(0.55, 1), random.uniform(0.55, 1));
  const dim = random.uniform(0.55, 0.8);
  return {
    colour,
    accent: [colour[0] * dim, colour[1] * dim, colour[2] * dim],
    texture: textures[random.integer(0, textures.length - 1)]!,
    period: random.integer(3, 9),
    stripeAngle: random.integer(0, 3),
  };
}

interface PlacedShape {
  category: number;
  /** Float xyxy box the shape is inscribed in. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Triangle apex direction (0 up, 1 right, 2 down, 3 left); bar orientation for bars. */
  orientation: number;
}

/**
 * Whether the pixel centre at normalised coordinates (u, v) ∈ [-1, 1]² of the shape's box lies
 * inside the shape; `shortSide` (pixels) sizes a ring's thickness.
 */
function insideShape(
  shape: PlacedShape,
  u: number,
  v: number,
  width: number,
  height: number,
): boolean {
  switch (shape.category) {
    case 0:
      return true;
    case 1:
      return u * u + v * v <= 1;
    case 2: {
      // Isosceles triangle filling its box; the apex points along `orientation`.
      let along: number;
      let across: number;
      if (shape.orientation === 0) [along, across] = [v, u];
      else if (shape.orientation === 2) [along, across] = [-v, u];
      else if (shape.orientation === 1) [along, across] = [-u, v];
      else [along, across] = [u, v];
      return Math.abs(across) <= (along + 1) / 2;
    }
    case 3: {
      // Three parallel bars along the long side, separated by two gaps of equal width.
      const across = width >= height ? v : u;
      const band = Math.min(4, Math.floor((across + 1) * 2.5));
      return band % 2 === 0;
    }
    default: {
      if (u * u + v * v > 1) return false;
      const thickness = Math.max(1.5, 0.28 * Math.min(width, height) * 0.5);
      const innerU = width / 2 - thickness;
      const innerV = height / 2 - thickness;
      if (innerU <= 0 || innerV <= 0) return true;
      const scaledU = (u * width) / 2 / innerU;
      const scaledV = (v * height) / 2 / innerV;
      return scaledU * scaledU + scaledV * scaledV > 1;
    }
  }
}

/** Paints a shape's pixels (pixel centres inside it) and claims them in `owner`. */
function paintShape(
  image: Float32Array,
  owner: Int16Array,
  imageWidth: number,
  imageHeight: number,
  shape: PlacedShape,
  style: ObjectStyle,
  ownerId: number,
): void {
  const boxWidth = shape.x1 - shape.x0;
  const boxHeight = shape.y1 - shape.y0;
  const centreX = (shape.x0 + shape.x1) / 2;
  const centreY = (shape.y0 + shape.y1) / 2;
  const px0 = Math.max(0, Math.floor(shape.x0));
  const px1 = Math.min(imageWidth, Math.ceil(shape.x1));
  const py0 = Math.max(0, Math.floor(shape.y0));
  const py1 = Math.min(imageHeight, Math.ceil(shape.y1));
  const noise = getNoiseTable();
  for (let y = py0; y < py1; y++) {
    const v = ((y + 0.5 - centreY) * 2) / boxHeight;
    if (v < -1 || v > 1) continue;
    for (let x = px0; x < px1; x++) {
      const u = ((x + 0.5 - centreX) * 2) / boxWidth;
      if (u < -1 || u > 1) continue;
      if (!insideShape(shape, u, v, boxWidth, boxHeight)) continue;
      let useAccent = false;
      if (style.texture === 'stripes') {
        const coordinate = style.stripeAngle % 2 === 0 ? x + y : x - y;
        useAccent = Math.floor(coordinate / style.period) % 2 !== 0;
      } else if (style.texture === 'checker') {
        useAccent = (Math.floor(x / style.period) + Math.floor(y / style.period)) % 2 !== 0;
      }
      const colour = useAccent ? style.accent : style.colour;
      const pixel = y * imageWidth + x;
      const offset = pixel * 3;
      const speckle =
        style.texture === 'speckle' ? noise[(pixel * 7) & (noiseTableSize - 1)]! * 0.6 : 0;
      image[offset] = colour[0] + speckle;
      image[offset + 1] = colour[1] + speckle;
      image[offset + 2] = colour[2] + speckle;
      owner[pixel] = ownerId;
    }
  }
}

function sampleScale(options: RenderOptions, random: Random): number {
  const maxScale = options.maxObjectScaleFraction * Math.min(options.width, options.height);
  const [small, medium] = options.scaleBandProbabilities;
  const draw = random.next();
  let low: number;
  let high: number;
  if (draw < small) [low, high] = [options.minObjectScale, 32];
  else if (draw < small + medium) [low, high] = [32, 96];
  else [low, high] = [96, maxScale];
  low = Math.min(Math.max(low, options.minObjectScale), maxScale);
  high = Math.max(Math.min(high, maxScale), low);
  return Math.exp(random.uniform(Math.log(low), Math.log(high)));
}

function sampleAspectRatio(options: RenderOptions, random: Random): number {
  const limit = random.chance(options.extremeAspectProbability)
    ? Math.log(options.maxAspectRatio)
    : Math.log(2);
  return Math.exp(random.uniform(-limit, limit));
}

function boxArea(box: readonly [number, number, number, number]): number {
  return Math.max(0, box[2] - box[0]) * Math.max(0, box[3] - box[1]);
}

function intersection(
  a: readonly [number, number, number, number],
  b: readonly [number, number, number, number],
): number {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  return width > 0 && height > 0 ? width * height : 0;
}

/** Places a box of the given size so it covers at most `maxOcclusion` of any earlier box. */
function placeBox(
  boxWidth: number,
  boxHeight: number,
  placed: Array<[number, number, number, number]>,
  options: RenderOptions,
  random: Random,
): [number, number, number, number] | undefined {
  for (let attempt = 0; attempt < 20; attempt++) {
    const x0 = random.uniform(0, options.width - boxWidth);
    const y0 = random.uniform(0, options.height - boxHeight);
    const box: [number, number, number, number] = [x0, y0, x0 + boxWidth, y0 + boxHeight];
    const fits = placed.every(
      (earlier) => intersection(box, earlier) <= options.maxOcclusion * boxArea(earlier),
    );
    if (fits) return box;
  }
  return undefined;
}

/**
 * Renders one synthetic image: a cluttered background, then an optional crowd region, then
 * objects from largest to smallest (later ones partially occlude earlier ones). Annotated boxes
 * are computed afterwards from the pixels each object still owns, so they are the true tight
 * boxes of what is visible.
 */
export function renderSyntheticImage(options: RenderOptions, random: Random): RenderedImage {
  const { width, height } = options;
  const image = new Float32Array(width * height * 3);
  const owner = new Int16Array(width * height).fill(-1);
  paintBackground(image, width, height, random);

  const categories: number[] = [];
  const crowdFlags: Array<0 | 1> = [];
  const placedBoxes: Array<[number, number, number, number]> = [];

  if (!random.chance(options.emptyImageProbability)) {
    if (random.chance(options.crowdImageProbability)) {
      const category = random.integer(0, syntheticCategoryNames.length - 1);
      const regionWidth = Math.min(width * 0.9, random.uniform(32, 96));
      const regionHeight = Math.min(height * 0.9, random.uniform(32, 96));
      const region = placeBox(regionWidth, regionHeight, placedBoxes, options, random);
      if (region) {
        const ownerId = categories.length;
        categories.push(category);
        crowdFlags.push(1);
        placedBoxes.push(region);
        const style = randomStyle(random);
        const members = random.integer(8, 20);
        for (let member = 0; member < members; member++) {
          const size = random.uniform(4, 9);
          const memberX = random.uniform(region[0], region[2] - size);
          const memberY = random.uniform(region[1], region[3] - size);
          const shape: PlacedShape = {
            category,
            x0: memberX,
            y0: memberY,
            x1: memberX + size,
            y1: memberY + size,
            orientation: random.integer(0, 3),
          };
          paintShape(image, owner, width, height, shape, style, ownerId);
        }
      }
    }

    const count = random.integer(1, options.maxObjectsPerImage);
    const sizes: Array<{ boxWidth: number; boxHeight: number; category: number }> = [];
    for (let index = 0; index < count; index++) {
      const ratio = sampleAspectRatio(options, random);
      let scale = sampleScale(options, random);
      // Keep the ratio and shrink the scale until the box fits inside the image.
      scale = Math.min(scale, (0.95 * width) / Math.sqrt(ratio), 0.95 * height * Math.sqrt(ratio));
      sizes.push({
        boxWidth: Math.max(2, scale * Math.sqrt(ratio)),
        boxHeight: Math.max(2, scale / Math.sqrt(ratio)),
        category: random.integer(0, syntheticCategoryNames.length - 1),
      });
    }
    sizes.sort((a, b) => b.boxWidth * b.boxHeight - a.boxWidth * a.boxHeight);
    for (const { boxWidth, boxHeight, category } of sizes) {
      const box = placeBox(boxWidth, boxHeight, placedBoxes, options, random);
      if (!box) continue;
      const ownerId = categories.length;
      categories.push(category);
      crowdFlags.push(0);
      placedBoxes.push(box);
      const shape: PlacedShape = {
        category,
        x0: box[0],
        y0: box[1],
        x1: box[2],
        y1: box[3],
        orientation: random.integer(0, 3),
      };
      paintShape(image, owner, width, height, shape, randomStyle(random), ownerId);
    }
  }

  // Ternary pixel noise {−a, 0, +a} over everything, shared by the channels: it defeats
  // exact-colour shortcuts while keeping PNGs small (full-entropy noise tripled their size).
  const noise = getNoiseTable();
  const noiseOffset = random.integer(0, noiseTableSize - 1);
  const amplitude = random.uniform(3, 8);
  const quantised = new Uint8ClampedArray(width * height * 3);
  const pixels = width * height;
  for (let pixel = 0; pixel < pixels; pixel++) {
    const draw = noise[(noiseOffset + pixel) & (noiseTableSize - 1)]!;
    const jitter = draw < -32 ? -amplitude : draw >= 32 ? amplitude : 0;
    const offset = pixel * 3;
    quantised[offset] = image[offset]! + jitter;
    quantised[offset + 1] = image[offset + 1]! + jitter;
    quantised[offset + 2] = image[offset + 2]! + jitter;
  }
  const rgb = new Uint8Array(quantised.buffer);

  const count = categories.length;
  const minX = new Int32Array(count).fill(width);
  const minY = new Int32Array(count).fill(height);
  const maxX = new Int32Array(count).fill(-1);
  const maxY = new Int32Array(count).fill(-1);
  const areas = new Int32Array(count);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const id = owner[row + x]!;
      if (id < 0) continue;
      if (x < minX[id]!) minX[id] = x;
      if (x > maxX[id]!) maxX[id] = x;
      if (y < minY[id]!) minY[id] = y;
      maxY[id] = y;
      areas[id]!++;
    }
  }
  const extents = categories.map((_, id) => ({
    x0: minX[id]!,
    y0: minY[id]!,
    x1: maxX[id]!,
    y1: maxY[id]!,
    area: areas[id]!,
  }));
  const objects: RenderedObject[] = [];
  const remap = new Int16Array(categories.length).fill(-1);
  extents.forEach((extent, id) => {
    if (extent.area === 0) return;
    remap[id] = objects.length;
    objects.push({
      category: categories[id]!,
      box: [extent.x0, extent.y0, extent.x1 + 1, extent.y1 + 1],
      area: extent.area,
      iscrowd: crowdFlags[id]!,
    });
  });
  for (let pixel = 0; pixel < owner.length; pixel++) {
    const id = owner[pixel]!;
    if (id >= 0) owner[pixel] = remap[id]!;
  }
  return { width, height, rgb, objects, owner };
}

/** The split index that seeds a synthetic split's images (`train` 0, `val` 1). */
export const syntheticSplitIndex = { train: 0, val: 1 } as const;

/**
 * Image `index` (0-based; COCO id index + 1) of a split of the synthetic dataset generated with
 * `seed` and `options`: every image has its own seed, so one image renders alone, bit for bit
 * the pixels `generateSyntheticDataset` writes (e.g. the playground's sample images).
 */
export function renderSyntheticImageAt(
  options: RenderOptions,
  seed: number,
  split: keyof typeof syntheticSplitIndex,
  index: number,
): RenderedImage {
  return renderSyntheticImage(
    options,
    createRandom(deriveSeed(seed, syntheticSplitIndex[split], index)),
  );
}
