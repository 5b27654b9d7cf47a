import { CommanderError } from 'commander';
import { runSynthCli } from './cli-program';

runSynthCli(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
    return;
  }
  console.error(`det-synth: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
