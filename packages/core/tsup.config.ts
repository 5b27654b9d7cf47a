import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.shared';
import { tfjsCorePeerPlugin } from './tsup.tfjs-peer';

export default defineConfig(
  libraryConfig({
    entry: ['src/index.ts'],
    // tfjs-core's gradient and chained-op registrations are bundled and bound to the user's
    // peer tfjs-core (see tsup.tfjs-peer.ts); everything else of tfjs-core stays the peer.
    noExternal: [/@tensorflow\/tfjs-core\/dist\//],
    esbuildPlugins: [tfjsCorePeerPlugin()],
  }),
);
