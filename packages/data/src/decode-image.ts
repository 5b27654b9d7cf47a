import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';

/** An interleaved 3-channel image, row-major: `data[(y·width + x)·3 + c]`. */
export interface ImageBuffer {
  /** uint8 straight from the decoder; float32 once normalised. */
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
}

/**
 * Decodes an image file with sharp into upright RGB uint8: EXIF orientation is applied,
 * alpha is dropped and grayscale/CMYK/palette images are converted to sRGB.
 */
export async function decodeImage(filePath: string): Promise<ImageBuffer> {
  let output: { data: Buffer; info: sharp.OutputInfo };
  try {
    output = await sharp(filePath)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new Error(`${filePath}: cannot decode image: ${(error as Error).message}`);
  }
  const { data, info } = output;
  const pixels = info.width * info.height;
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels === 3) return { data: view, width: info.width, height: info.height };
  // Grey stays single-channel for some inputs; expand (or drop extra channels) to RGB.
  const rgb = new Uint8Array(pixels * 3);
  for (let pixel = 0; pixel < pixels; pixel++) {
    const source = pixel * info.channels;
    const grey = info.channels < 3;
    rgb[pixel * 3] = view[source]!;
    rgb[pixel * 3 + 1] = view[grey ? source : source + 1]!;
    rgb[pixel * 3 + 2] = view[grey ? source : source + 2]!;
  }
  return { data: rgb, width: info.width, height: info.height };
}

/** Decodes an image into a float32 [H, W, 3] tensor of 0-255 RGB values; the caller owns it. */
export async function decodeImageTensor(filePath: string): Promise<tf.Tensor3D> {
  const image = await decodeImage(filePath);
  return tf.tensor3d(Float32Array.from(image.data), [image.height, image.width, 3], 'float32');
}
