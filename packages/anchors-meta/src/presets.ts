import type { ScaleRatio, StandardBox } from './anchor-encoding';

export type MetaAnchorPresetName = '3x3' | '5x5' | '7x7' | '9x9';

export interface MetaAnchorPreset {
  name: MetaAnchorPresetName;
  /** `{2^(k/n), k < n}` (Table 1). */
  scales: readonly number[];
  /** Aspect ratios h / w (Table 1). */
  ratios: readonly number[];
  /** (AH, AW) on P3, Table 1's last column. */
  standardBox: StandardBox;
}

function preset(
  name: MetaAnchorPresetName,
  n: number,
  ratios: number[],
  standardBox: StandardBox,
): MetaAnchorPreset {
  return {
    name,
    scales: Array.from({ length: n }, (_, k) => 2 ** (k / n)),
    ratios,
    standardBox,
  };
}

/**
 * MetaAnchor Table 1. The 3×3 entry equals RetinaNet's anchors (scales with base size 32 on
 * P3, i.e. `@det/core`'s `metaAnchorOptions(n)` for the baseline with the same anchors).
 */
export const metaAnchorPresets: Readonly<Record<MetaAnchorPresetName, MetaAnchorPreset>> = {
  '3x3': preset('3x3', 3, [1 / 2, 1, 2], [44, 44]),
  '5x5': preset('5x5', 5, [1 / 3, 1 / 2, 1, 2, 3], [45, 47]),
  '7x7': preset('7x7', 7, [1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4], [48, 50]),
  '9x9': preset('9x9', 9, [1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 2, 3, 4, 5], [55, 55]),
};

export function metaAnchorPreset(name: MetaAnchorPresetName): MetaAnchorPreset {
  const found = metaAnchorPresets[name];
  if (!found) {
    throw new Error(
      `metaAnchorPreset: unknown preset ${JSON.stringify(name)}, expected one of ${Object.keys(metaAnchorPresets).join(', ')}`,
    );
  }
  return found;
}

/**
 * The anchors of a preset as (scale, ratio) pairs, ratio-major with scales varying fastest:
 * the order of mmdetection's `AnchorGenerator` (`scale_major=True`), so anchor `a` of a
 * MetaAnchor head and of the baseline RetinaNet head are the same box.
 */
export function presetAnchors(name: MetaAnchorPresetName): ScaleRatio[] {
  const { scales, ratios } = metaAnchorPreset(name);
  return ratios.flatMap((ratio) => scales.map((scale) => ({ scale, ratio })));
}
