import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is packages/coco-eval/src/fixture-paths.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * pycocotools reference cases, kept outside the repository in `../shared` (beside the
 * clone in CI too). Throws, never skips, when they are missing.
 */
export function sharedFixturesDir(): string {
  const dir = path.resolve(repoRoot, '../shared/fixtures/coco-eval');
  if (!existsSync(path.join(dir, 'expected'))) {
    throw new Error(
      `pycocotools reference fixtures not found at ${dir}: the shared/ folder must sit beside the repository root`,
    );
  }
  return dir;
}
