// `@det/data/browser`: the parts of @det/data that run in a web page — no sharp, no fs, no
// node:* module (apps/playground's bundle check guards that). Image decoding, COCO files on
// disk, the data loader and the synthetic dataset's files stay in the main entry (Node).
export type { CocoAnnotation, CocoCategory, CocoImage, CocoInstances } from './coco-format';
export type { DetectionBatch } from './data-loader';
export type { ImageMeta } from './image-meta';
export {
  boxesToInput,
  boxesToOriginal,
  boxesToOriginalTensor,
  flipBoxes,
  initialImageMeta,
  scaleBoxes,
} from './image-meta';
export type { NormalizeOptions } from './normalization';
export { imagenetNormalization, normalizePixels, resolveNormalization } from './normalization';
export type { Random } from './random';
export { createRandom, deriveSeed, permutation } from './random';
export { defaultSyntheticOptions } from './synthetic/defaults';
export type {
  RenderedImage,
  RenderedObject,
  RenderOptions,
  SyntheticCategoryName,
} from './synthetic/render';
export {
  defaultRenderOptions,
  renderSyntheticImage,
  renderSyntheticImageAt,
  syntheticCategoryNames,
  syntheticSplitIndex,
} from './synthetic/render';
