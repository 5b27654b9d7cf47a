import { CommanderError, InvalidArgumentError } from 'commander';
import type { CommandIo } from './train-command';

/**
 * A command-line binary's body (`det`, `det-finetune`): runs `run(process.argv)`; errors print
 * one line `<name>: <message>` naming the thing at fault, no stack trace (`DET_DEBUG=1` adds it).
 */
export async function runBinary(
  name: string,
  run: (argv: readonly string[], io: CommandIo) => Promise<number>,
): Promise<void> {
  try {
    process.exitCode = await run(process.argv, {
      log: (line) => console.log(line),
      interactive: process.stdout.isTTY === true && !process.env.CI,
    });
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
    } else {
      console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      if (process.env.DET_DEBUG && error instanceof Error) console.error(error.stack);
      process.exitCode = 1;
    }
  }
}

/** A commander argument parser for a number in a range; errors name the option and value. */
export function numberOption(
  name: string,
  options: { integer?: boolean; minimum?: number; maximum?: number } = {},
) {
  return (value: string): number => {
    const parsed = Number(value);
    if (
      !Number.isFinite(parsed) ||
      (options.integer && !Number.isInteger(parsed)) ||
      parsed < (options.minimum ?? -Infinity) ||
      parsed > (options.maximum ?? Infinity)
    ) {
      const range = [
        options.minimum !== undefined ? `≥ ${options.minimum}` : '',
        options.maximum !== undefined ? `≤ ${options.maximum}` : '',
      ].filter(Boolean);
      throw new InvalidArgumentError(
        `${name} must be ${options.integer ? 'an integer' : 'a number'}${range.length > 0 ? ` ${range.join(' and ')}` : ''}, got '${value}'`,
      );
    }
    return parsed;
  };
}

/** A repeatable string option's accumulator. */
export const collectOption = (value: string, previous: string[] = []) => [...previous, value];
