import type { AnchorSetInput } from '@det/anchors-meta';

/** The anchor editor's fields: Table 1 style scales × ratios, or explicit (h, w) on P3. */
export interface AnchorEditorState {
  /** Scales (× the base size 32 on P3), comma separated. */
  scales: string;
  /** Aspect ratios h / w, comma separated. */
  ratios: string;
  /** "h, w" per line (pixels on P3); when any is given they replace scales × ratios. */
  explicit: string;
  /** log2 of the factor every anchor's size is multiplied by (the "scale ×" slider). */
  logScale: number;
  /** log2 of the factor every anchor's h / w is multiplied by (the "aspect stretch" slider). */
  logStretch: number;
}

function numbers(text: string, field: string): number[] {
  const values = text
    .split(/[\s,;]+/)
    .filter((part) => part !== '')
    .map((part) => {
      // "1/2" is a ratio people write.
      const fraction = /^([0-9.]+)\/([0-9.]+)$/.exec(part);
      const value = fraction ? Number(fraction[1]) / Number(fraction[2]) : Number(part);
      if (!(Number.isFinite(value) && value > 0)) {
        throw new Error(`${field}: '${part}' is not a positive number`);
      }
      return value;
    });
  if (values.length === 0) throw new Error(`${field}: give at least one value`);
  return values;
}

/**
 * The inference anchor set the editor describes, as `MetaAnchorFunction.setInferenceAnchors`
 * takes it: (scale, ratio) pairs ratio-major like MetaAnchor's presets, or explicit sizes.
 * Errors name the field and the value.
 */
export function anchorSetOf(state: AnchorEditorState): AnchorSetInput {
  const scale = 2 ** state.logScale;
  const stretch = 2 ** state.logStretch;
  const lines = state.explicit
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length > 0) {
    return lines.map((line, index) => {
      const pair = numbers(line, `explicit anchor ${index + 1}`);
      if (pair.length !== 2) {
        throw new Error(`explicit anchor ${index + 1}: give "h, w", got '${line}'`);
      }
      const [height, width] = pair as [number, number];
      return {
        height: height * scale * Math.sqrt(stretch),
        width: (width * scale) / Math.sqrt(stretch),
      };
    });
  }
  const scales = numbers(state.scales, 'scales');
  const ratios = numbers(state.ratios, 'ratios');
  return ratios.flatMap((ratio) =>
    scales.map((s) => ({ scale: s * scale, ratio: ratio * stretch })),
  );
}

/** Compact text of a number list for the editor (4 significant digits). */
export function formatList(values: readonly number[]): string {
  return values.map((value) => Number(value.toPrecision(4)).toString()).join(', ');
}
