/** `(AH, AW)`: the "standard anchor box" of MetaAnchor eq. 7, height first. */
export type StandardBox = readonly [height: number, width: number];

/** An anchor box size in pixels of the level it is defined on. */
export interface AnchorSize {
  height: number;
  width: number;
}

/**
 * RetinaNet's scale and aspect ratio (Lin et al. 2017; MetaAnchor Table 1 note 2):
 * `h = base · scale · √ratio`, `w = base · scale / √ratio`, ratio = h / w.
 */
export interface ScaleRatio {
  scale: number;
  ratio: number;
}

/** `b = (log(ah / AH), log(aw / AW))`, MetaAnchor eq. 7. */
export type AnchorCode = readonly [logHeight: number, logWidth: number];

/** One anchor box as a user may give it: a size, a (scale, ratio) pair, or an already encoded `b`. */
export type AnchorSpec = AnchorSize | ScaleRatio | { code: AnchorCode };

export interface AnchorCodeOptions {
  /** The model's standard box on the first level (Table 1's last column for P3). */
  standardBox: StandardBox;
  /** Base size that (scale, ratio) pairs multiply: RetinaNet's 4 × stride 8 = 32 on P3. Default 32. */
  baseSize?: number;
}

function positive(value: number, field: string): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new Error(`@det/anchors-meta: ${field} must be a finite number > 0, got ${value}`);
  }
}

export function checkStandardBox(standardBox: StandardBox, where: string): void {
  if (!Array.isArray(standardBox) || standardBox.length !== 2) {
    throw new Error(
      `${where}: standardBox must be [height, width], got ${JSON.stringify(standardBox)}`,
    );
  }
  positive(standardBox[0], `${where}: standardBox[0] (AH)`);
  positive(standardBox[1], `${where}: standardBox[1] (AW)`);
}

/** RetinaNet's (scale, ratio) → size on the first level. */
export function scaleRatioToSize(pair: ScaleRatio, baseSize = 32): AnchorSize {
  positive(pair.scale, 'scale');
  positive(pair.ratio, 'ratio');
  positive(baseSize, 'baseSize');
  const root = Math.sqrt(pair.ratio);
  return { height: baseSize * pair.scale * root, width: (baseSize * pair.scale) / root };
}

/** MetaAnchor eq. 7. */
export function encodeAnchorBox(size: AnchorSize, standardBox: StandardBox): AnchorCode {
  checkStandardBox(standardBox, 'encodeAnchorBox');
  positive(size.height, 'anchor height');
  positive(size.width, 'anchor width');
  return [Math.log(size.height / standardBox[0]), Math.log(size.width / standardBox[1])];
}

/** Inverse of eq. 7: the anchor size that `b` stands for against this standard box. */
export function decodeAnchorCode(code: AnchorCode, standardBox: StandardBox): AnchorSize {
  checkStandardBox(standardBox, 'decodeAnchorCode');
  return { height: standardBox[0] * Math.exp(code[0]), width: standardBox[1] * Math.exp(code[1]) };
}

/**
 * The standard box of a level: MetaAnchor §3.2 doubles (AH, AW) per FPN level, i.e. it
 * grows with the level's stride relative to the first level.
 */
export function standardBoxAtLevel(standardBox: StandardBox, scale: number): StandardBox {
  return [standardBox[0] * scale, standardBox[1] * scale];
}

/** Encodes any mix of sizes, (scale, ratio) pairs and codes; a bad entry names its index. */
export function anchorCodes(
  specs: readonly AnchorSpec[],
  options: AnchorCodeOptions,
): AnchorCode[] {
  checkStandardBox(options.standardBox, 'anchorCodes');
  if (!Array.isArray(specs)) {
    throw new Error(`anchorCodes: anchors must be a list, got ${JSON.stringify(specs)}`);
  }
  return specs.map((spec, index) => {
    try {
      if ('code' in spec) {
        const [h, w] = spec.code;
        if (!(spec.code.length === 2 && Number.isFinite(h) && Number.isFinite(w))) {
          throw new Error(`code must be two finite numbers, got ${JSON.stringify(spec.code)}`);
        }
        return [h, w] as const;
      }
      if ('scale' in spec) {
        return encodeAnchorBox(scaleRatioToSize(spec, options.baseSize), options.standardBox);
      }
      if ('height' in spec) return encodeAnchorBox(spec, options.standardBox);
      throw new Error('expected {height, width}, {scale, ratio} or {code}');
    } catch (error) {
      throw new Error(
        `anchorCodes: anchors[${index}] = ${JSON.stringify(spec)}: ${(error as Error).message}`,
      );
    }
  });
}
