/** What to do with a problem in a dataset. */
export type ValidationPolicy = 'strict' | 'lenient';

export type DatasetIssueKind =
  | 'malformed-entry'
  | 'duplicate-id'
  | 'unknown-image'
  | 'unknown-category'
  | 'non-finite-box'
  | 'negative-box'
  | 'zero-size-box'
  | 'box-outside-image'
  | 'unsafe-file-name'
  | 'missing-image-file'
  | 'unreadable-image-file'
  | 'image-size-mismatch';

/** One problem found in a dataset; always names the file, the entry's id and the field. */
export interface DatasetIssue {
  kind: DatasetIssueKind;
  /** The annotation JSON, or the image file for file problems. */
  file: string;
  imageId?: number;
  annotationId?: number;
  categoryId?: number;
  /** The offending field, e.g. `bbox[2]`, `file_name`, `category_id`. */
  field: string;
  message: string;
}

export function formatIssue(issue: DatasetIssue): string {
  const ids = [
    issue.imageId !== undefined ? `image ${issue.imageId}` : undefined,
    issue.annotationId !== undefined ? `annotation ${issue.annotationId}` : undefined,
    issue.categoryId !== undefined ? `category ${issue.categoryId}` : undefined,
  ].filter((part) => part !== undefined);
  return `${issue.file}: ${ids.join(', ')}${ids.length > 0 ? ', ' : ''}field '${issue.field}': ${issue.message} [${issue.kind}]`;
}

/** Thrown in `strict` mode for the first problem found. */
export class DatasetValidationError extends Error {
  override readonly name = 'DatasetValidationError';
  constructor(readonly issue: DatasetIssue) {
    super(formatIssue(issue));
  }
}

/** What validation did: skipped entries (lenient) and boxes clipped to their image (both). */
export interface ValidationReport {
  policy: ValidationPolicy;
  /** Problems that made an entry be skipped (empty in strict mode, which throws instead). */
  issues: DatasetIssue[];
  /** Boxes partly outside their image, clipped to it (kept, not errors). */
  clipped: DatasetIssue[];
  skippedImages: number;
  /** Annotations skipped for their own problem or because their image was skipped. */
  skippedAnnotations: number;
  /** Images left out because they have no annotation (`emptyImages: 'skip'`). */
  skippedEmptyImages: number;
  countsByKind: Partial<Record<DatasetIssueKind, number>>;
}

export function summarizeReport(report: ValidationReport): string {
  const kinds = Object.entries(report.countsByKind)
    .map(([kind, count]) => `${kind}: ${count}`)
    .join(', ');
  return (
    `skipped ${report.skippedImages} image(s) and ${report.skippedAnnotations} annotation(s)` +
    (kinds ? ` (${kinds})` : '') +
    `, clipped ${report.clipped.length} box(es), left out ${report.skippedEmptyImages} empty image(s)`
  );
}
