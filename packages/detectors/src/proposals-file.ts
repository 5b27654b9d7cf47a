import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { type ProposalsByImage, parseProposals, type ReadProposalsOptions } from './proposals';

export type { ProposalsByImage, ReadProposalsOptions } from './proposals';
export { parseProposals, proposalsForBatch } from './proposals';

/** Reads a proposals JSON file (see `parseProposals`). */
export function readProposalsFile(
  file: string,
  options: ReadProposalsOptions = {},
): ProposalsByImage {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${file}: cannot read the proposals file (${(error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: malformed JSON (${(error as Error).message})`);
  }
  return parseProposals(json, file, options);
}

/** Writes proposals (COCO results style) atomically: a temp file, then a rename. */
export function writeProposalsFile(
  file: string,
  proposals: readonly { image_id: number; bbox: readonly number[]; score: number }[],
): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(
    temporary,
    JSON.stringify(
      proposals.map((p) => ({
        image_id: p.image_id,
        bbox: p.bbox,
        score: p.score,
        category_id: 1,
      })),
    ),
  );
  renameSync(temporary, file);
}
