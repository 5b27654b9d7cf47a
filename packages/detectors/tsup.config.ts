import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.shared';

export default defineConfig(libraryConfig({ entry: ['src/index.ts', 'src/node.ts'] }));
