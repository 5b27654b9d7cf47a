#!/usr/bin/env node
import { CommanderError } from 'commander';
import { runFinetuneCli } from './program';

// The `det-finetune` binary: errors print one line naming the thing at fault, no stack trace.
try {
  process.exitCode = await runFinetuneCli(process.argv, {
    log: (line) => console.log(line),
    interactive: process.stdout.isTTY === true && !process.env.CI,
  });
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else {
    console.error(`det-finetune: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env.DET_DEBUG && error instanceof Error) console.error(error.stack);
    process.exitCode = 1;
  }
}
