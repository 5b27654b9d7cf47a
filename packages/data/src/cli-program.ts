import { Command, InvalidArgumentError } from 'commander';
import { generateSyntheticDataset, type ShapeBand } from './synthetic/generate';

function integer(name: string, minimum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum) {
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${minimum}, got '${value}'`);
    }
    return parsed;
  };
}

/** `50:100:1` → a `ShapeBand`; the message names the option and the value. */
export function shapeBand(value: string): ShapeBand {
  const parts = value.split(':').map(Number);
  const [minScale, maxScale, maxAbsLogRatio] = parts;
  if (
    parts.length !== 3 ||
    !parts.every(Number.isFinite) ||
    !(minScale! >= 0 && maxScale! > minScale! && maxAbsLogRatio! > 0)
  ) {
    throw new InvalidArgumentError(
      `--drop-band must be min:max:logratio with 0 ≤ min < max and logratio > 0 (e.g. 50:100:1), got '${value}'`,
    );
  }
  return { minScale: minScale!, maxScale: maxScale!, maxAbsLogRatio: maxAbsLogRatio! };
}

/** The `det-synth` command; `argv` as in `process.argv` (node, script, ...args). */
export async function runSynthCli(
  argv: readonly string[],
  output: { log: (line: string) => void } = console,
): Promise<void> {
  const program = new Command()
    .name('det-synth')
    .description('Write the deterministic synthetic detection dataset (PNG images + COCO JSON).')
    .requiredOption('--out <dir>', 'output folder')
    .option('--seed <n>', 'random seed', integer('--seed', 0), 0)
    .option('--train <n>', 'training images', integer('--train', 0), 1000)
    .option('--val <n>', 'validation images', integer('--val', 0), 200)
    .option('--width <px>', 'image width', integer('--width', 16), 320)
    .option('--height <px>', 'image height', integer('--height', 16), 320)
    .option(
      '--drop-band <min:max:logratio>',
      "MetaAnchor's drop (Table 4): training objects with min < √(wh) < max and |ln(w/h)| < logratio become iscrowd (ignored); e.g. 50:100:1",
      shapeBand,
    )
    .exitOverride();
  program.parse([...argv]);
  const options = program.opts<{
    dropBand?: ShapeBand;
    out: string;
    seed: number;
    train: number;
    val: number;
    width: number;
    height: number;
  }>();
  const started = performance.now();
  const paths = await generateSyntheticDataset({
    outDir: options.out,
    seed: options.seed,
    trainImages: options.train,
    valImages: options.val,
    width: options.width,
    height: options.height,
    ...(options.dropBand ? { dropBand: options.dropBand } : {}),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  output.log(`det-synth: wrote ${paths.root} in ${seconds} s`);
  output.log(
    `  train: ${paths.train.images} images, ${paths.train.annotations} annotations → ${paths.train.annotationFile}`,
  );
  if (options.dropBand)
    output.log(
      `  drop band ${options.dropBand.minScale} < √(wh) < ${options.dropBand.maxScale}, |ln(w/h)| < ${options.dropBand.maxAbsLogRatio}: training objects inside it are iscrowd (ignored)`,
    );
  output.log(
    `  val:   ${paths.val.images} images, ${paths.val.annotations} annotations → ${paths.val.annotationFile}`,
  );
}
