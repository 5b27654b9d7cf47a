// tfjs-core's Node bundle registers no gradients and no chained ops (`x.sum()`); the files
// that do are extensionless ESM that Node cannot import. tsup bundles these registration
// files into @det/core's dist and binds everything they use to the user's peer tfjs-core
// through its public API (packages/core/tsup.tfjs-peer.ts), so the dist carries no engine
// of its own; vitest inlines them from source. They register into tfjs' global registries.
//
// The shared peer must be evaluated FIRST: whichever copy of tfjs-core runs first creates
// the global engine, and only the peer's Tensor class has its op handler set (`clone()`,
// which the AddN gradient calls, needs it). That matters under vitest, which evaluates a
// second copy of tfjs-core's modules; the built dist has only the peer.
import '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
