import type { ImageShape } from './types';

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Validates `imageShapes` where it enters a public API: one `[height, width]` pair of
 * positive numbers per image of the batch. Without this a `{ height, width }` object fails
 * deep inside box decoding (`maxShape.join is not a function`).
 */
export function checkImageShapes(
  imageShapes: unknown,
  where: string,
  batchSize?: number,
): asserts imageShapes is readonly ImageShape[] {
  if (!Array.isArray(imageShapes)) {
    throw new Error(
      `${where}: imageShapes must be an array with one [height, width] per image, got ${describe(imageShapes)}`,
    );
  }
  imageShapes.forEach((shape: unknown, image) => {
    const pair =
      Array.isArray(shape) &&
      shape.length === 2 &&
      shape.every((side) => typeof side === 'number' && Number.isFinite(side) && side > 0);
    if (pair) return;
    const { height, width } = (shape ?? {}) as { height?: unknown; width?: unknown };
    const hint =
      height !== undefined && width !== undefined
        ? ` — pass [${describe(height)}, ${describe(width)}], not { height, width }`
        : '';
    throw new Error(
      `${where}: imageShapes[${image}] must be [height, width] (two positive numbers), got ${describe(shape)}${hint}`,
    );
  });
  if (batchSize !== undefined && imageShapes.length !== batchSize) {
    throw new Error(
      `${where}: ${imageShapes.length} imageShapes for a batch of ${batchSize} images (one [height, width] per image)`,
    );
  }
}
