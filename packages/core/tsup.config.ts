import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.shared';

export default defineConfig(
  libraryConfig({
    entry: ['src/index.ts'],
    // Bundle tfjs-core's gradient and chained-op registrations (extensionless ESM that
    // Node cannot import); everything else of tfjs-core stays the shared peer.
    noExternal: [/@tensorflow\/tfjs-core\/dist\//],
  }),
);
