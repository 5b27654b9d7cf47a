export type { CocoDataset, DetectionRecord, LoadCocoDatasetOptions } from './coco-dataset';
export { loadCocoDataset } from './coco-dataset';
export type { CocoAnnotation, CocoCategory, CocoImage, CocoInstances } from './coco-format';
export type {
  DataLoaderOptions,
  DetectionBatch,
  HostBatch,
  LoaderPosition,
} from './data-loader';
export {
  collateSamples,
  DetectionDataLoader,
  disposeBatch,
  hostBatchToTensors,
  loadSample,
} from './data-loader';
export type {
  DatasetIssue,
  DatasetIssueKind,
  ValidationPolicy,
  ValidationReport,
} from './dataset-issues';
export { DatasetValidationError, formatIssue, summarizeReport } from './dataset-issues';
export type { ImageBuffer } from './decode-image';
export { decodeImage, decodeImageTensor } from './decode-image';
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
export type { EnsureDatasetOptions } from './synthetic/default-dataset';
export {
  defaultCacheDir,
  defaultDatasetName,
  defaultSyntheticOptions,
  ensureDefaultDataset,
  ensureSyntheticDataset,
} from './synthetic/default-dataset';
export type {
  GenerateSyntheticDatasetOptions,
  ShapeBand,
  SyntheticDatasetPaths,
  SyntheticManifest,
  SyntheticSplitPaths,
} from './synthetic/generate';
export {
  generateSyntheticDataset,
  inShapeBand,
  syntheticCategories,
  syntheticFormatVersion,
} from './synthetic/generate';
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
export type {
  BoxRange,
  RandomResizeOptions,
  ResizeScale,
  Sample,
  Transform,
} from './transforms';
export {
  applyTransforms,
  boxesInRange,
  dropBoxesInRange,
  flipSample,
  keepRatioSize,
  metaAnchorDropRange,
  normalize,
  padImage,
  padToDivisor,
  randomHorizontalFlip,
  randomResize,
  resize,
  resizeSample,
} from './transforms';
