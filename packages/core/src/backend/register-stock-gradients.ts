// tfjs-core's Node bundle registers no gradients and no chained ops (`x.sum()`); the files
// that do are extensionless ESM that Node cannot import, so tsup bundles them into
// @det/core (and vitest inlines them). They register into tfjs' global registries, shared
// by every copy of tfjs-core.
//
// The shared peer must be evaluated FIRST: whichever copy of tfjs-core runs first creates
// the global engine, and only the peer's Tensor class has its op handler set (`clone()`,
// which the AddN gradient calls, needs it).
import '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
