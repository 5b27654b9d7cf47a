import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialImageMeta } from '@det/data';
import { describe, expect, it } from 'vitest';
import {
  parseProposals,
  proposalsForBatch,
  readProposalsFile,
  writeProposalsFile,
} from './proposals-file';

describe('proposals files (COCO results style)', () => {
  it('groups by image, converts xywh to xyxy, sorts by score (stably) and truncates', () => {
    const proposals = parseProposals(
      [
        { image_id: 7, bbox: [0, 0, 10, 5], score: 0.2 },
        { image_id: 3, bbox: [1, 2, 3, 4], score: 0.9 },
        { image_id: 7, bbox: [5, 5, 1, 1], score: 0.8 },
        { image_id: 7, bbox: [6, 6, 2, 2], score: 0.8 },
        { image_id: 7, bbox: [9, 9, 1, 1] },
      ],
      'p.json',
      { maxPerImage: 3 },
    );
    expect([...proposals.keys()]).toEqual([7, 3]);
    // The score-less entry counts as 1: first.
    expect(Array.from(proposals.get(7)!)).toEqual([9, 9, 10, 10, 5, 5, 6, 6, 6, 6, 8, 8]);
    expect(Array.from(proposals.get(3)!)).toEqual([1, 2, 4, 6]);
    expect(parseProposals([]).size).toBe(0);
  });

  it('names the file, the entry and the field of a bad proposal', () => {
    expect(() => parseProposals({}, 'p.json')).toThrow(
      'p.json: expected a JSON array of proposals, got object',
    );
    expect(() => parseProposals([{ image_id: 'a', bbox: [0, 0, 1, 1] }], 'p.json')).toThrow(
      `p.json: proposal #0 field 'image_id' must be an integer, got "a"`,
    );
    expect(() =>
      parseProposals(
        [
          { image_id: 1, bbox: [0, 0, 1, 1] },
          { image_id: 1, bbox: [0, 0, 1] },
        ],
        'p.json',
      ),
    ).toThrow(`p.json: proposal #1 field 'bbox' must be 4 finite numbers`);
    expect(() => parseProposals([{ image_id: 1, bbox: [0, 0, -1, 1] }], 'p.json')).toThrow(
      "field 'bbox' has a negative size",
    );
    expect(() =>
      parseProposals([{ image_id: 1, bbox: [0, 0, 1, 1], score: null }], 'p.json'),
    ).toThrow("p.json: proposal #0 field 'score' must be a finite number, got null (image_id 1)");
    const folder = mkdtempSync(join(tmpdir(), 'det-proposals-'));
    expect(() => readProposalsFile(join(folder, 'missing.json'))).toThrow(
      /missing\.json: cannot read the proposals file/,
    );
    writeFileSync(join(folder, 'bad.json'), '[{"image_id": 1,');
    expect(() => readProposalsFile(join(folder, 'bad.json'))).toThrow(/bad\.json: malformed JSON/);
  });

  it('writes atomically and reads back what it wrote', () => {
    const folder = mkdtempSync(join(tmpdir(), 'det-proposals-'));
    const file = join(folder, 'proposals.json');
    writeProposalsFile(file, [
      { image_id: 1, bbox: [10, 20, 30, 40], score: 0.5 },
      { image_id: 2, bbox: [0, 0, 8, 8], score: 0.25 },
    ]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toHaveLength(2);
    const proposals = readProposalsFile(file);
    expect(Array.from(proposals.get(1)!)).toEqual([10, 20, 40, 60]);
    expect(Array.from(proposals.get(2)!)).toEqual([0, 0, 8, 8]);
  });

  it('maps proposals into each image of a batch (resize and flip), empty where an image has none', () => {
    const proposals = parseProposals([{ image_id: 1, bbox: [10, 20, 30, 40], score: 1 }]);
    const resized = {
      ...initialImageMeta(1, 'a.png', 100, 200),
      width: 200,
      height: 400,
      scaleX: 2,
      scaleY: 2,
    };
    const flipped = { ...resized, flipped: true };
    const [a, b, c] = proposalsForBatch(proposals, [
      resized,
      flipped,
      initialImageMeta(9, 'b.png', 10, 10),
    ]);
    expect(Array.from(a!)).toEqual([20, 40, 80, 120]);
    expect(Array.from(b!)).toEqual([120, 40, 180, 120]);
    expect(c!.length).toBe(0);
  });
});
