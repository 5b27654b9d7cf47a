import { z } from 'zod';

const positive = z.number().positive();

/** One anchor as `@det/anchors-meta` takes it: a size, a (scale, ratio) pair or a code `b`. */
const anchorSpecSchema = z.union([
  z.strictObject({ height: positive, width: positive }),
  z.strictObject({ scale: positive, ratio: positive }),
  z.strictObject({ code: z.tuple([z.number(), z.number()]) }),
]);

/** A Table 1 preset name or a non-empty list of anchors. */
export const anchorSetSchema = z.union([
  z.enum(['3x3', '5x5', '7x7', '9x9']),
  z.array(anchorSpecSchema).min(1),
]);

/** The sliding-window anchors of `head.anchors` with A·K + A·4 fixed filters (RetinaNet). */
export const denseAnchorSchemeSchema = z.strictObject({ type: z.literal('dense') });

/**
 * MetaAnchor (Yang et al. 2018): the last layer of the head is generated from each anchor
 * box. Strides come from `head.anchors.strides`; `(scale, ratio)` anchors multiply
 * `octaveBaseScale × strides[0]` (RetinaNet: 4 × 8 = 32).
 */
export const metaAnchorSchemeSchema = z.strictObject({
  type: z.literal('meta'),
  /** Training anchor configuration (Table 1). */
  anchors: anchorSetSchema.default('3x3'),
  /** Inference anchors; default the training ones. Change later without retraining. */
  inferenceAnchors: anchorSetSchema.optional(),
  /** Eq. 6 (`+ W12·gap(x)`) instead of eq. 4–5. */
  dataDependent: z.boolean().default(false),
  /** m of eq. 5 (§4: 128). */
  hiddenSize: z.number().int().positive().default(128),
  /** ±range of the uniform jitter of every b while training (§4: 0.5); 0 disables it. */
  jitter: z.number().min(0).default(0.5),
  /** (AH, AW) on the first level; default Table 1's value for a preset, else (44, 44). */
  standardBox: z.tuple([positive, positive]).optional(),
});

export const anchorSchemeSchema = z.discriminatedUnion('type', [
  denseAnchorSchemeSchema,
  metaAnchorSchemeSchema,
]);

export type AnchorSchemeConfig = z.output<typeof anchorSchemeSchema>;
export type MetaAnchorSchemeConfig = z.output<typeof metaAnchorSchemeSchema>;
export type AnchorSetConfig = z.output<typeof anchorSetSchema>;
