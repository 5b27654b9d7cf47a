import './backend/register-stock-gradients';

// --- primitives: boxes, coders, NMS, priors, assigners, samplers (issue 3)
export { disposeAssignResult } from './assigners/assign-result';
export type { MaxIoUAssignerOptions } from './assigners/max-iou-assigner';
export { MaxIoUAssigner } from './assigners/max-iou-assigner';
export type {
  BackendInfo,
  BackendName,
  InitBackendOptions,
  WebgpuAdapterReport,
} from './backend/init-backend';
export { activeBackend, backendPreference, initBackend } from './backend/init-backend';
export { importNodeBuiltin } from './backend/node-builtin';
export type { Reads } from './backend/readback';
export { hasSyncReadback, readAsync, readSync } from './backend/readback';
export { untaped } from './backend/untaped';
export { registerWasmKernels, restoreStockWasmKernels } from './backend/wasm-kernels';
export { boxArea } from './boxes/box-area';
export { convertBoxes } from './boxes/box-format';
export type { BoxOverlapsFn, BoxOverlapsOptions, OverlapMode } from './boxes/box-overlaps';
export { boxIof, boxIou, boxOverlaps, defaultBoxOverlaps } from './boxes/box-overlaps';
export { clipBoxes } from './boxes/clip-boxes';
export { largeBoxMask, removeSmallBoxes } from './boxes/small-boxes';
export type { DeltaXYWHBoxCoderOptions } from './coders/delta-xywh-box-coder';
export { DeltaXYWHBoxCoder } from './coders/delta-xywh-box-coder';
export { batchedNms } from './nms/batched-nms';
export type { BoxesInput, NmsOptions, ScoresInput } from './nms/nms';
export { nms } from './nms/nms';
export type { Initializer } from './nn/initializers';
export {
  constant,
  fanIn,
  fanOut,
  kaimingNormal,
  normal,
  priorProbabilityBias,
  torchDefaultUniform,
  withInitializerSeed,
  xavierUniform,
  zeros,
} from './nn/initializers';
export type { Conv2dOptions, LinearOptions } from './nn/layers';
export { Conv2d, FrozenBatchNorm2d, Linear } from './nn/layers';
export type { ParameterEntry } from './nn/parameter-store';
// --- nn: parameters and layers
export { ParameterStore } from './nn/parameter-store';
// --- ops: deformable conv, RoIAlign, masked conv (issue 7)
export type { ConvPadding, SpatialPair } from './ops/conv-geometry';
export type { DeformConv2dOptions } from './ops/deform-conv2d';
export { deformConv2d } from './ops/deform-conv2d';
export { deformConvThreads, setDeformConvThreads } from './ops/deform-conv2d-host';
export type { MaskedConv2dOptions } from './ops/masked-conv2d';
export { maskedConv2d, maskedConv2dDenseAbove } from './ops/masked-conv2d';
export type { MaskedDeformConv2dOptions } from './ops/masked-deform-conv2d';
export {
  keptPositions,
  maskedDeformConv2d,
  scatterPositions,
} from './ops/masked-deform-conv2d';
export type { MultiLevelRoiAlignOptions, RoiLevelOptions } from './ops/multi-level-roi-align';
export { multiLevelRoiAlign, roiLevels, roiLevelsOnHost } from './ops/multi-level-roi-align';
export type { RoiAlignOptions } from './ops/roi-align';
export { roiAlign } from './ops/roi-align';
export type { AnchorGeneratorOptions, Stride } from './priors/anchor-generator';
export { AnchorGenerator, shiftBaseAnchors } from './priors/anchor-generator';
export type { MetaAnchorConfiguration } from './priors/anchor-presets';
export {
  metaAnchorOptions,
  retinanetAnchorOptions,
  rpnAnchorOptions,
} from './priors/anchor-presets';
export { PseudoSampler } from './samplers/pseudo-sampler';
export type { RandomSamplerOptions } from './samplers/random-sampler';
export { RandomSampler } from './samplers/random-sampler';
export type { RandomState } from './samplers/random-state';
export {
  randomStateOf,
  restoreRandomStateOf,
  seededGeneratorsOf,
} from './samplers/random-state';
export { disposeSamplingResult } from './samplers/sampling-result';
export type { SeededRandom } from './samplers/seeded-random';
export { isSeededRandom, mulberry32 } from './samplers/seeded-random';
export type { Assigner, AssignOptions, AssignResult } from './types/assigner';
export { ASSIGNED_IGNORE, ASSIGNED_NEGATIVE } from './types/assigner';
export type { BoxCoder, DecodeOptions } from './types/box-coder';
export type { BoxFormat, Size2D } from './types/box-format';
export type { PriorGenerator } from './types/prior-generator';
export type { Sampler, SamplingResult } from './types/sampler';
