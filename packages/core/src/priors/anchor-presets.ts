import type { AnchorGeneratorOptions } from './anchor-generator';

/**
 * RetinaNet (Lin et al. 2017, §4): on P3–P7 (strides 8–128), areas 32²–512² with three
 * octave scales 2^{0, 1/3, 2/3} and ratios {1:2, 1:1, 2:1}: mmdetection's
 * `octave_base_scale=4, scales_per_octave=3`, 9 anchors per location.
 */
export const retinanetAnchorOptions: AnchorGeneratorOptions = {
  strides: [8, 16, 32, 64, 128],
  ratios: [0.5, 1, 2],
  octaveBaseScale: 4,
  scalesPerOctave: 3,
};

/** RPN with FPN (Lin et al. 2017, FPN §4.1): one scale, 8 × stride, on P2–P6, 3 ratios. */
export const rpnAnchorOptions: AnchorGeneratorOptions = {
  strides: [4, 8, 16, 32, 64],
  ratios: [0.5, 1, 2],
  scales: [8],
};

/** The anchor configurations of MetaAnchor's Table 1 (n scales × n ratios on P3–P7). */
export type MetaAnchorConfiguration = 3 | 5 | 7 | 9;

const metaAnchorRatios: Record<MetaAnchorConfiguration, number[]> = {
  3: [1 / 2, 1, 2],
  5: [1 / 3, 1 / 2, 1, 2, 3],
  7: [1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4],
  9: [1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5],
};

/**
 * MetaAnchor Table 1: scales `{2^(k/n), k < n}` and n ratios, on RetinaNet's levels and
 * base size (4 × stride, so 3 × 3 equals `retinanetAnchorOptions`).
 */
export function metaAnchorOptions(n: MetaAnchorConfiguration): AnchorGeneratorOptions {
  const ratios = metaAnchorRatios[n];
  if (!ratios) throw new Error(`metaAnchorOptions: n must be 3, 5, 7 or 9, got ${n}`);
  return { strides: [8, 16, 32, 64, 128], ratios, octaveBaseScale: 4, scalesPerOctave: n };
}
