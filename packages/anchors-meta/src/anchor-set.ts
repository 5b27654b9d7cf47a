import {
  type AnchorCode,
  type AnchorCodeOptions,
  type AnchorSpec,
  anchorCodes,
} from './anchor-encoding';
import { type MetaAnchorPresetName, metaAnchorPresets, presetAnchors } from './presets';

/** An anchor set as users give it: a Table 1 preset name or any list of anchors. */
export type AnchorSetInput = MetaAnchorPresetName | readonly AnchorSpec[];

/** The codes `b` (eq. 7) of an anchor set against a model's standard box. */
export function resolveAnchorSet(input: AnchorSetInput, options: AnchorCodeOptions): AnchorCode[] {
  if (typeof input === 'string') {
    if (!(input in metaAnchorPresets)) {
      throw new Error(
        `resolveAnchorSet: unknown preset ${JSON.stringify(input)}, expected one of ${Object.keys(metaAnchorPresets).join(', ')} or a list of anchors`,
      );
    }
    return anchorCodes(presetAnchors(input), options);
  }
  return anchorCodes(input, options);
}

/**
 * Training-time augmentation (§4): every component of every `b` moved by U(−range, range).
 * A host loop over A·2 numbers, not over grid anchors.
 */
export function jitterAnchorCodes(
  codes: readonly AnchorCode[],
  options: { range: number; random: () => number },
): AnchorCode[] {
  const { range, random } = options;
  if (!(Number.isFinite(range) && range >= 0)) {
    throw new Error(`jitterAnchorCodes: range must be a finite number ≥ 0, got ${range}`);
  }
  return codes.map(([h, w]) => [h + (2 * random() - 1) * range, w + (2 * random() - 1) * range]);
}
