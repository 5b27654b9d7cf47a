/** Bad input: names the file (when known), the record and the field at fault. */
export class CocoInputError extends Error {
  override name = 'CocoInputError';
}

/** Prefix a message with the file it is about, when there is one. */
export function inSource(source: string | undefined, message: string): string {
  return source ? `${source}: ${message}` : message;
}
