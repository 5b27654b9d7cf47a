import { CocoDetections } from './detections';

/**
 * A fast path for the usual results file: a JSON array of flat objects with numeric
 * `image_id`, `category_id`, `score` and a 4-number `bbox` (other keys are skipped).
 * It fills the columns directly instead of building 500k objects with JSON.parse.
 * Numbers go through `Number()`, which rounds exactly as JSON.parse does. Anything it does
 * not expect (bad JSON, a missing field, a non-number) makes it return undefined, and the
 * caller falls back to JSON.parse + `loadResults`, which names the file, record and field.
 */
export function scanResults(text: string): CocoDetections | undefined {
  const detections = new CocoDetections();
  const length = text.length;
  const box = new Float64Array(4);
  let pos = 0;

  const skipSpace = () => {
    while (pos < length) {
      const c = text.charCodeAt(pos);
      if (c === 32 || c === 10 || c === 13 || c === 9) pos++;
      else break;
    }
  };
  // Returns NaN on anything that is not a JSON number (valid JSON numbers are never NaN).
  const readNumber = (): number => {
    const start = pos;
    if (text.charCodeAt(pos) === 45) pos++; // -
    const intStart = pos;
    while (pos < length && isDigit(text.charCodeAt(pos))) pos++;
    if (pos === intStart || (text.charCodeAt(intStart) === 48 && pos - intStart > 1))
      return Number.NaN;
    if (text.charCodeAt(pos) === 46) {
      pos++;
      const fracStart = pos;
      while (pos < length && isDigit(text.charCodeAt(pos))) pos++;
      if (pos === fracStart) return Number.NaN;
    }
    const e = text.charCodeAt(pos);
    if (e === 101 || e === 69) {
      pos++;
      const sign = text.charCodeAt(pos);
      if (sign === 43 || sign === 45) pos++;
      const expStart = pos;
      while (pos < length && isDigit(text.charCodeAt(pos))) pos++;
      if (pos === expStart) return Number.NaN;
    }
    return Number(text.slice(start, pos));
  };
  // Skips any JSON value; false when it is malformed.
  const skipValue = (): boolean => {
    const c = text.charCodeAt(pos);
    if (c === 34) return skipString();
    if (c === 123 || c === 91) {
      const close = c === 123 ? 125 : 93;
      pos++;
      skipSpace();
      if (text.charCodeAt(pos) === close) {
        pos++;
        return true;
      }
      for (;;) {
        if (c === 123) {
          if (text.charCodeAt(pos) !== 34 || !skipString()) return false;
          skipSpace();
          if (text.charCodeAt(pos) !== 58) return false;
          pos++;
          skipSpace();
        }
        if (!skipValue()) return false;
        skipSpace();
        const next = text.charCodeAt(pos);
        pos++;
        if (next === close) return true;
        if (next !== 44) return false;
        skipSpace();
      }
    }
    if (text.startsWith('true', pos)) pos += 4;
    else if (text.startsWith('false', pos)) pos += 5;
    else if (text.startsWith('null', pos)) pos += 4;
    else return !Number.isNaN(readNumber());
    return true;
  };
  const skipString = (): boolean => {
    pos++;
    while (pos < length) {
      const c = text.charCodeAt(pos);
      if (c === 92) pos += 2;
      else if (c === 34) {
        pos++;
        return true;
      } else if (c < 32) return false;
      else pos++;
    }
    return false;
  };

  skipSpace();
  if (text.charCodeAt(pos) !== 91) return undefined;
  pos++;
  skipSpace();
  if (text.charCodeAt(pos) === 93) {
    pos++;
    skipSpace();
    return pos === length ? detections : undefined;
  }
  for (;;) {
    if (text.charCodeAt(pos) !== 123) return undefined;
    pos++;
    skipSpace();
    let imageId = Number.NaN;
    let categoryId = Number.NaN;
    let score = Number.NaN;
    let hasBox = false;
    if (text.charCodeAt(pos) !== 125) {
      for (;;) {
        if (text.charCodeAt(pos) !== 34) return undefined;
        const keyStart = pos + 1;
        if (!skipString()) return undefined;
        const key = text.slice(keyStart, pos - 1);
        skipSpace();
        if (text.charCodeAt(pos) !== 58) return undefined;
        pos++;
        skipSpace();
        if (key === 'image_id') imageId = readNumber();
        else if (key === 'category_id') categoryId = readNumber();
        else if (key === 'score') score = readNumber();
        else if (key === 'bbox') {
          if (text.charCodeAt(pos) !== 91) return undefined;
          pos++;
          for (let c = 0; c < 4; c++) {
            skipSpace();
            const value = readNumber();
            if (Number.isNaN(value)) return undefined;
            box[c] = value;
            skipSpace();
            if (text.charCodeAt(pos) !== (c === 3 ? 93 : 44)) return undefined;
            pos++;
          }
          hasBox = true;
        } else if (key.includes('\\') || !skipValue()) return undefined;
        skipSpace();
        const next = text.charCodeAt(pos);
        pos++;
        if (next === 125) break;
        if (next !== 44) return undefined;
        skipSpace();
      }
    } else pos++;
    if (Number.isNaN(imageId) || Number.isNaN(categoryId) || Number.isNaN(score) || !hasBox)
      return undefined;
    detections.add(imageId, categoryId, box, 0, score);
    skipSpace();
    const next = text.charCodeAt(pos);
    pos++;
    if (next === 93) break;
    if (next !== 44) return undefined;
    skipSpace();
  }
  skipSpace();
  return pos === length ? detections : undefined;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
