/** Channels and stride (input pixels per feature cell) of one feature map: a shape spec. */
export interface FeatureShape {
  channels: number;
  stride: number;
}
