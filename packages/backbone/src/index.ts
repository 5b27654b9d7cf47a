export type { BatchNorm2dOptions, NormMode } from './batch-norm';
export { BatchNorm2d } from './batch-norm';
export type { FeatureShape } from './feature-shape';
export type {
  FpnInputs,
  FpnLevelName,
  FpnLevelNames,
  FpnLevels,
  FpnOptions,
  FpnOutputs,
} from './fpn';
export { createFpn, Fpn } from './fpn';
export type { GroupNorm2dOptions } from './group-norm';
export { GroupNorm2d } from './group-norm';
export type {
  ResNetApplyOptions,
  ResNetDepth,
  ResNetFeatureName,
  ResNetNorm,
  ResNetOptions,
  ResNetOutputs,
  ResNetShapeSpec,
  ResNetStyle,
} from './resnet';
export { createResNet, ResNet } from './resnet';
export type { ResNetFpnOptions } from './resnet-fpn';
export { createResNetFpn, ResNetFpn, tinyResNetFpnPreset } from './resnet-fpn';
export type {
  SafetensorsDtype,
  SafetensorsFile,
  SafetensorsInput,
  SafetensorsTensor,
} from './safetensors';
export { parseSafetensors, serializeSafetensors } from './safetensors';
export type {
  LoadWeightsOptions,
  LoadWeightsReport,
  ShapeMismatch,
  WeightSource,
  WeightTarget,
} from './weights';
export {
  loadTorchvisionWeights,
  loadWeights,
  saveWeights,
  serializeWeights,
  torchvisionIgnoredKeys,
  writeFileAtomic,
} from './weights';
