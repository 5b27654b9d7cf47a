import { type CommandIo, collectOption, numberOption } from '@det/trainer';
import { Command, InvalidArgumentError, Option } from 'commander';
import { allCommand, defaultAll } from './all';
import { compareCommand } from './compare';
import { defaultFineTune, fineTuneCommand } from './finetune';
import { mergeSummary, proposalsCommand } from './proposals';
import { mergeShards } from './shards';

const number = numberOption;

function counts(name: string) {
  return (value: string): number[] => {
    const values = value.split(',').map((part) => Number(part.trim()));
    if (values.length === 0 || !values.every((n) => Number.isInteger(n) && n > 0))
      throw new InvalidArgumentError(
        `${name} must be positive integers separated by commas (e.g. 300,1000), got '${value}'`,
      );
    return [...new Set(values)].sort((a, b) => a - b);
  };
}

const collect = collectOption;
const iou = (name: string) => number(name, { minimum: 0, maximum: 1 });

/**
 * The `det-finetune` command line; `argv` as `process.argv`. Resolves to the exit code (errors
 * reject with a message naming the file, image id or field at fault).
 */
export async function runFinetuneCli(argv: readonly string[], io: CommandIo): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('det-finetune')
    .description(
      "Boost a trained two-stage detector with precomputed (GA-)RPN proposals: Guided Anchoring's fine-tuning schedule (§3.4, Table 3).",
    )
    .option('--runs-dir <dir>', 'where run folders live', 'runs')
    .showHelpAfterError()
    .exitOverride();
  const runsDir = () => program.opts<{ runsDir: string }>().runsDir;

  program
    .command('proposals')
    .description(
      "run a trained proposal detector (GA-RPN, RPN, Meta-RPN, or a Faster R-CNN's own RPN) over a split: top-N proposals per image, sharded",
    )
    .option('--run <name>', 'a run folder (its best checkpoint, else last)')
    .option('--checkpoint <file>', 'a checkpoint .safetensors file')
    .addOption(
      new Option('--split <split>', 'split of the run config')
        .choices(['train', 'val'])
        .default('train'),
    )
    .option(
      '--limit <n>',
      'the first n images of the split (default: all of train; data.valImages of val)',
      number('--limit', { integer: true, minimum: 1 }),
    )
    .option(
      '--top <n,...>',
      'proposals per image of each merged file',
      counts('--top'),
      [300, 1000],
    )
    .option(
      '--shard <i/N>',
      'only shard i of N (0-based; Kubernetes: "$JOB_COMPLETION_INDEX/N"), no merge',
    )
    .requiredOption(
      '--out <dir>',
      'proposals folder: <split>.shard-i-of-N.json, <split>.top<N>.json',
    )
    .action(async (options) => {
      await proposalsCommand({ ...options, runsDir: runsDir() }, io);
    });

  program
    .command('merge')
    .description(
      'merge the shards of a split: every image exactly once, missing or duplicated ones named',
    )
    .requiredOption('--out <dir>', 'the proposals folder the shards are in')
    .addOption(
      new Option('--split <split>', 'which split').choices(['train', 'val']).default('train'),
    )
    .option(
      '--top <n,...>',
      'proposals per image of each merged file',
      counts('--top'),
      [300, 1000],
    )
    .action(async (options) => {
      io.log(mergeSummary(await mergeShards(options.out, options.split, options.top)));
    });

  program
    .command('finetune')
    .description(
      'fine-tune a trained Faster / Fast R-CNN on precomputed proposals (its RPN dropped); writes runs/<name>/, resumes when rerun',
    )
    .option('--run <name>', "the trained detector's run folder (its best checkpoint, else last)")
    .option('--checkpoint <file>', 'a checkpoint .safetensors file')
    .requiredOption(
      '--proposals <file>',
      'proposals of the training images (COCO results style; its images are the epoch)',
    )
    .requiredOption('--val-proposals <file>', 'proposals of the validation images')
    .requiredOption('--name <run>', 'the fine-tune run folder')
    .option(
      '--epochs <n>',
      'epochs',
      number('--epochs', { integer: true, minimum: 1 }),
      defaultFineTune.epochs,
    )
    .option(
      '--lr <rate>',
      "first epoch's rate at train.baseBatchSize images (default: the checkpoint's train.baseLr)",
      number('--lr', { minimum: 0 }),
    )
    .option(
      '--gamma <factor>',
      'rate factor per epoch',
      number('--gamma', { minimum: 0 }),
      defaultFineTune.gamma,
    )
    .option(
      '--warmup-iters <n>',
      'linear warmup iterations',
      number('--warmup-iters', { integer: true, minimum: 0 }),
      defaultFineTune.warmupIters,
    )
    .option(
      '--pos-iou <iou>',
      'RoI assigner: IoU ≥ this is positive (and the low-quality minimum unless --min-pos-iou)',
      iou('--pos-iou'),
    )
    .option('--neg-iou <iou>', 'RoI assigner: IoU < this is negative', iou('--neg-iou'))
    .option(
      '--min-pos-iou <iou>',
      'RoI assigner: minimum IoU of a low-quality positive',
      iou('--min-pos-iou'),
    )
    .option(
      '--roi-samples <n>',
      'RoIs sampled per image',
      number('--roi-samples', { integer: true, minimum: 1 }),
    )
    .option(
      '--positive-fraction <f>',
      'positive fraction of the sampled RoIs',
      iou('--positive-fraction'),
    )
    .option(
      '--max-proposals <n>',
      'proposals per image taken from the files',
      number('--max-proposals', { integer: true, minimum: 1 }),
    )
    .option(
      '--val-images <n>',
      'validation images evaluated',
      number('--val-images', { integer: true, minimum: 1 }),
    )
    .option(
      '--set <key=value>',
      'override a run-config field as det train --set (repeatable)',
      collect,
    )
    .action(async (options) => {
      exitCode = await fineTuneCommand({ ...options, runsDir: runsDir() }, io);
    });

  program
    .command('compare')
    .description(
      "Table 3: before / after fine-tuning on each proposal source: AP, AP50, AP75, APs/m/l and the proposals' AR@100/300/1000",
    )
    .requiredOption('--before <run>', 'the trained detector run (own RPN)')
    .option('--before-proposals <file>', "its RPN's merged val proposals (AR of the before row)")
    .requiredOption(
      '--after <label=run>',
      'a fine-tune run, e.g. GA-RPN=table3/finetune-ga-rpn (repeatable)',
      collect,
    )
    .option(
      '--untouched-rows',
      "also evaluate the untouched detector on each fine-tune's test proposals",
    )
    .option(
      '--out <dir>',
      'where table3.{md,json} go (default: the first --after run, whose report shows it)',
    )
    .action(async (options) => {
      await compareCommand(
        {
          runsDir: runsDir(),
          before: options.before,
          after: options.after,
          untouchedRows: options.untouchedRows === true,
          ...(options.beforeProposals ? { beforeProposals: options.beforeProposals } : {}),
          ...(options.out ? { out: options.out } : {}),
        },
        io,
      );
    });

  program
    .command('all')
    .description(
      'the whole flow on the embedded data with tiny presets (trains the tiny Faster R-CNN and GA-RPN first when needed); resumable',
    )
    .option('--name <dir>', 'experiment folder under the runs folder', defaultAll.name)
    .option(
      '--detector-iters <n>',
      'iterations of the tiny Faster R-CNN',
      number('--detector-iters', { integer: true, minimum: 1 }),
      defaultAll.detectorIters,
    )
    .option(
      '--ga-rpn-iters <n>',
      'iterations of the tiny GA-RPN',
      number('--ga-rpn-iters', { integer: true, minimum: 1 }),
      defaultAll.gaRpnIters,
    )
    .option(
      '--train-images <n>',
      'training images the proposals and fine-tunes use',
      number('--train-images', { integer: true, minimum: 1 }),
      defaultAll.trainImages,
    )
    .option(
      '--val-images <n>',
      'validation images evaluated',
      number('--val-images', { integer: true, minimum: 1 }),
      defaultAll.valImages,
    )
    .option(
      '--epochs <n>',
      'fine-tune epochs',
      number('--epochs', { integer: true, minimum: 1 }),
      defaultAll.epochs,
    )
    .option(
      '--top <n,...>',
      'merged proposal files per image (fine-tunes use the smallest)',
      counts('--top'),
      defaultAll.top,
    )
    .option(
      '--ga-iou <iou>',
      "the GA-RPN fine-tune's RoI positive / negative IoU",
      iou('--ga-iou'),
      defaultAll.gaIou,
    )
    .option(
      '--ga-roi-samples <n>',
      "the GA-RPN fine-tune's RoIs per image",
      number('--ga-roi-samples', { integer: true, minimum: 1 }),
      defaultAll.gaRoiSamples,
    )
    .action(async (options) => {
      await allCommand({ ...defaultAll, ...options, runsDir: runsDir() }, io);
    });

  await program.parseAsync([...argv]);
  return exitCode;
}
