import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from './decode-image';

let root: string;

/** A 3×2 RGB image with distinct pixels: row 0 = red, green, blue; row 1 = white, black, grey. */
const pixels = Uint8Array.from([
  255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128, 128, 128,
]);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'det-data-decode-'));
  const raw = { raw: { width: 3, height: 2, channels: 3 as const } };
  await sharp(pixels, raw).png().toFile(join(root, 'rgb.png'));
  await sharp(pixels, raw).ensureAlpha(0.5).png().toFile(join(root, 'rgba.png'));
  await sharp(Uint8Array.from([0, 50, 100, 150, 200, 250]), {
    raw: { width: 3, height: 2, channels: 1 },
  })
    .png()
    .toFile(join(root, 'grey.png'));
  // EXIF orientation 6: the stored 3×2 image is shown rotated 90° clockwise (2×3).
  await sharp(pixels, raw).withMetadata({ orientation: 6 }).png().toFile(join(root, 'rotated.png'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('decodeImage', () => {
  it('decodes RGB exactly', async () => {
    const image = await decodeImage(join(root, 'rgb.png'));
    expect([image.width, image.height]).toEqual([3, 2]);
    expect(Array.from(image.data)).toEqual(Array.from(pixels));
  });

  it('drops alpha', async () => {
    const image = await decodeImage(join(root, 'rgba.png'));
    expect(image.data.length).toBe(18);
    expect(Array.from(image.data)).toEqual(Array.from(pixels));
  });

  it('expands grayscale to RGB', async () => {
    const image = await decodeImage(join(root, 'grey.png'));
    expect(Array.from(image.data.subarray(0, 6))).toEqual([0, 0, 0, 50, 50, 50]);
    expect(image.data.length).toBe(18);
  });

  it('applies EXIF orientation', async () => {
    const image = await decodeImage(join(root, 'rotated.png'));
    expect([image.width, image.height]).toEqual([2, 3]);
    // Rotating 90° clockwise puts the bottom-left pixel (white) at the top-left.
    expect(Array.from(image.data.subarray(0, 6))).toEqual([255, 255, 255, 255, 0, 0]);
  });

  it('names the file it cannot decode', async () => {
    await expect(decodeImage(join(root, 'missing.png'))).rejects.toThrow(join(root, 'missing.png'));
  });
});
