import { runSynthCli } from '@det/data/cli';
import { Command, Option } from 'commander';
import { collectOption, numberOption } from './command-line';
import { fidelityCommand } from './fidelity/command';
import {
  evalCommand,
  exportCommand,
  predictCommand,
  reportCommand,
  searchAnchorsCommand,
} from './other-commands';
import { presetNames } from './run-config';
import { type CommandIo, trainCommand } from './train-command';

const number = numberOption;
const collect = collectOption;

function modelOptions(command: Command): Command {
  return command
    .option('--run <name>', 'a run folder (its best checkpoint, else last)')
    .option('--checkpoint <file>', 'a checkpoint .safetensors file');
}

/**
 * The `det` command line; `argv` as `process.argv`. Resolves to the exit code (errors reject
 * with a message naming the file, field or value at fault).
 */
export async function runCli(argv: readonly string[], io: CommandIo): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('det')
    .description('Train, evaluate and run object detectors (TensorFlow.js).')
    .option('--runs-dir <dir>', 'where run folders live', 'runs')
    .showHelpAfterError()
    .exitOverride();
  const runsDir = () => program.opts<{ runsDir: string }>().runsDir;

  program
    .command('train')
    .description(
      'train a detector from a preset or config; writes runs/<name>/ (logs, checkpoints, report)',
    )
    .option('--config <file>', 'run config JSON ({ preset?, detector, data?, run? })')
    .addOption(new Option('--preset <name>', `a preset: ${presetNames().join(', ')}`))
    .option(
      '--set <key=value>',
      'override a config field, e.g. train.maxIters=200 or run.evalInterval=100 (repeatable)',
      collect,
    )
    .option('--name <run>', 'run folder name (default: the preset or config name)')
    .option('--resume', 'continue runs/<name> from its last checkpoint when there is one')
    .option(
      '--time <seconds>',
      'training seconds for this session',
      number('--time', { minimum: 1 }),
    )
    .option(
      '--annotations <file>',
      'COCO annotation JSON of the training split (default: the embedded synthetic set)',
    )
    .option('--images <dir>', 'image folder of --annotations')
    .option(
      '--val-annotations <file>',
      'COCO annotation JSON of the validation split (default: --annotations)',
    )
    .option('--val-images <dir>', 'image folder of --val-annotations')
    .option('--lenient', 'skip (and count) missing, undecodable or invalid images and annotations')
    .option(
      '--proposals <file>',
      "precomputed proposals of the training split for proposals.type 'precomputed' (Fast R-CNN): COCO results JSON [{ image_id, bbox: [x, y, w, h], score }]",
    )
    .option(
      '--val-proposals <file>',
      'precomputed proposals of the validation split (default: --proposals)',
    )
    .option(
      '--load-from <checkpoint>',
      "initial weights of a fresh run (mmdetection's load_from): every model parameter must be in the checkpoint with its shape; others are dropped",
    )
    .action(async (options) => {
      exitCode = await trainCommand({ ...options, runsDir: runsDir() }, io);
    });

  modelOptions(program.command('eval'))
    .description(
      "evaluate a checkpoint on a split: pycocotools' table and per-class AP (AR for proposals)",
    )
    .addOption(
      new Option('--split <split>', 'split of the run config')
        .choices(['train', 'val'])
        .default('val'),
    )
    .option(
      '--limit <n>',
      'evaluate the first n images',
      number('--limit', { integer: true, minimum: 1 }),
    )
    .option('--annotations <file>', 'evaluate on this COCO annotation file instead')
    .option('--images <dir>', 'image folder of --annotations')
    .option('--lenient', 'skip (and count) bad images and annotations')
    .option(
      '--proposals <file>',
      "precomputed proposals of the split (Fast R-CNN; default: the run's data.proposals)",
    )
    .option('--out <file>', 'also write the evaluation as JSON')
    .option(
      '--set <key=value>',
      'override an inference-time detector field, e.g. head.anchorScheme.locationThreshold=0.05 or head.anchorScheme.inferenceAnchors="5x5" (repeatable)',
      collect,
    )
    .option('--count-anchors', "also report the dense head's anchors per image (GA: p ≥ εL)")
    .addOption(
      new Option(
        '--time-head [batches]',
        "also time Guided Anchoring's head with only the kept locations (masked) and with all (dense), per image, over the first batches (default 10)",
      )
        .argParser(number('--time-head', { integer: true, minimum: 1 }))
        .preset('10'),
    )
    .action(async (options) => {
      exitCode = await evalCommand({ ...options, runsDir: runsDir() }, io);
    });

  modelOptions(program.command('predict'))
    .description(
      'detect objects in an image, a folder or a split: COCO results JSON and drawn images',
    )
    .option('--input <path>', 'an image file or a folder of images')
    .addOption(
      new Option('--split <split>', 'a split of the run config instead of --input').choices([
        'train',
        'val',
      ]),
    )
    .option('--limit <n>', 'images of the split', number('--limit', { integer: true, minimum: 1 }))
    .option('--score <threshold>', 'lowest score drawn', number('--score', { minimum: 0 }), 0.3)
    .option(
      '--proposals <file>',
      "precomputed proposals (Fast R-CNN; default: the run's data.proposals; for --input the images are ids 1..N in name order)",
    )
    .option('--out <dir>', 'output folder', 'predictions')
    .action(async (options) => {
      exitCode = await predictCommand({ ...options, runsDir: runsDir() }, io);
    });

  modelOptions(program.command('export'))
    .description(
      'write the model for a web page (apps/playground): model.safetensors + model.json (config, class names)',
    )
    .option('--out <dir>', "output folder (default: the run folder's export/, else export)")
    .action(async (options) => {
      exitCode = await exportCommand({ ...options, runsDir: runsDir() }, io);
    });

  modelOptions(program.command('search-anchors'))
    .description(
      "MetaAnchor's greedy inference-anchor search (§4.1.2) on a subset of the training images",
    )
    .option('--steps <n>', 'candidates tried', number('--steps', { integer: true, minimum: 1 }), 20)
    .option(
      '--limit <n>',
      'images searched on (the first n of the split)',
      number('--limit', { integer: true, minimum: 1 }),
      50,
    )
    .addOption(
      new Option(
        '--search-data <data>',
        "train-subset (the paper's) or evaluation-split (val: optimistic AP, needs --allow-evaluation-split)",
      )
        .choices(['train-subset', 'evaluation-split'])
        .default('train-subset'),
    )
    .option(
      '--allow-evaluation-split',
      'search on the val split although its AP is then reported on the data the anchors were chosen on',
      false,
    )
    .addOption(
      new Option('--metric <metric>', 'what the search maximises')
        .choices(['AP', 'AP50', 'AP75'])
        .default('AP'),
    )
    .option('--seed <n>', 'seed of the candidate draws', number('--seed', { integer: true }), 0)
    .option('--out <file>', 'where to save the chosen set (default runs/<name>/anchors.json)')
    .action(async (options) => {
      exitCode = await searchAnchorsCommand({ ...options, runsDir: runsDir() }, io);
    });

  program
    .command('synth')
    .description('write the synthetic detection dataset (det synth --help for its options)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[options...]')
    .action(async (args: string[]) => {
      await runSynthCli(['node', 'det synth', ...args], io);
    });

  program
    .command('fidelity')
    .description(
      "the papers' tables in miniature: trains and evaluates the fidelity matrix (resumable), writes docs/fidelity.md",
    )
    .option('--quick', 'only the quick subset (≤ 45 min on 2 cores)')
    .option(
      '--only <list>',
      'only these tables, cells or runs, in this order (comma-separated, e.g. ga-table-1-4 or ga-rpn-s0,rpn)',
    )
    .option('--budget', 'print the estimated time of the whole matrix and exit')
    .option('--docs', 'only regenerate the page from the committed results')
    .option('--dry-run', 'print what each run needs and exit')
    .option(
      '--nice <n>',
      'run trainings under nice -n N',
      number('--nice', { integer: true, minimum: 0 }),
    )
    .option(
      '--jobs <n>',
      'runs at once, each with DET_WASM_THREADS = cores ÷ n unless set (fine-tunes wait for their inputs)',
      number('--jobs', { integer: true, minimum: 1 }),
    )
    .option('--runs <dir>', 'run folders', 'runs/fidelity')
    .option('--results <dir>', 'committed result JSONs', 'docs/fidelity/results')
    .option('--out <file>', 'the generated page', 'docs/fidelity.md')
    .action(async (options) => {
      exitCode = await fidelityCommand(options, io);
    });

  program
    .command('report')
    .description("rebuild a run's report.html and plots")
    .requiredOption('--run <name>', 'the run folder name')
    .action(async (options) => {
      exitCode = await reportCommand({ run: options.run, runsDir: runsDir() }, io);
    });

  await program.parseAsync([...argv]);
  return exitCode;
}
