/**
 * Test-only helpers shared by every package's golden tests (`@det/core/testing`, resolved
 * from source through the `@det/source` condition; not part of the built package).
 */

export { onBackend } from './backends';
export { closeMismatch, expectClose, type GoldenTensor, type Tolerance } from './expect-close';
