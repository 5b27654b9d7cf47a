import { Command, InvalidArgumentError } from 'commander';
import { generateSyntheticDataset } from './synthetic/generate';

function integer(name: string, minimum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum) {
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${minimum}, got '${value}'`);
    }
    return parsed;
  };
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
    .exitOverride();
  program.parse([...argv]);
  const options = program.opts<{
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
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  output.log(`det-synth: wrote ${paths.root} in ${seconds} s`);
  output.log(
    `  train: ${paths.train.images} images, ${paths.train.annotations} annotations → ${paths.train.annotationFile}`,
  );
  output.log(
    `  val:   ${paths.val.images} images, ${paths.val.annotations} annotations → ${paths.val.annotationFile}`,
  );
}
