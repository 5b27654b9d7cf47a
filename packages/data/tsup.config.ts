import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.shared';

export default defineConfig(
  libraryConfig({ entry: ['src/index.ts', 'src/browser.ts', 'src/cli.ts', 'src/cli-program.ts'] }),
);
