import { readFile } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import { loadResultsJson } from './detections';
import { CocoInputError } from './errors';
import { CocoEvaluator } from './evaluator';
import { CocoGroundTruth } from './ground-truth';
import type { CocoEvalParams } from './params';
import { parseJson } from './validate';

/** Where the CLI writes and reads; tests pass fakes. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile: (file: string) => Promise<string>;
}

const nodeIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (file) => readFile(file, 'utf8'),
};

function numberList(option: string): (value: string) => number[] {
  return (value) =>
    value.split(',').map((item) => {
      const number = Number(item.trim());
      if (item.trim() === '' || !Number.isFinite(number)) {
        throw new CocoInputError(
          `${option}: "${item}" is not a number (expected a comma-separated list)`,
        );
      }
      return number;
    });
}

interface CliOptions {
  gt: string;
  dt: string;
  useCats: string;
  maxDets?: number[];
  imgIds?: number[];
  catIds?: number[];
  json?: boolean;
  verbose?: boolean;
}

/**
 * `det-coco-eval --gt GT.json --dt DT.json [--use-cats 0|1] [--max-dets 1,10,100]
 * [--img-ids 1,2] [--cat-ids 3,4] [--json] [--verbose]`. Resolves to the exit code.
 */
export async function runCli(argv: readonly string[], io: CliIo = nodeIo): Promise<number> {
  const program = new Command()
    .name('det-coco-eval')
    .description('COCO bbox evaluation with the same numbers as pycocotools')
    .requiredOption('--gt <file>', 'COCO ground-truth JSON')
    .requiredOption(
      '--dt <file>',
      'COCO results JSON (a list of {image_id, category_id, bbox, score})',
    )
    .option(
      '--use-cats <0|1>',
      'evaluate per category (1) or pool categories as for proposals (0)',
      '1',
    )
    .option('--max-dets <list>', 'comma-separated maxDets, e.g. 1,10,100', numberList('--max-dets'))
    .option('--img-ids <list>', 'comma-separated image ids to evaluate', numberList('--img-ids'))
    .option('--cat-ids <list>', 'comma-separated category ids to evaluate', numberList('--cat-ids'))
    .option('--json', 'print {"stats": [...], "perCategory": {...}} instead of the table')
    .option('--verbose', 'print timings and memory to stderr')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CocoInputError) {
      io.stderr(`det-coco-eval: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const options = program.opts<CliOptions>();
  if (options.useCats !== '0' && options.useCats !== '1') {
    io.stderr(`det-coco-eval: --use-cats must be 0 or 1, got "${options.useCats}"\n`);
    return 2;
  }

  try {
    const started = performance.now();
    const groundTruth = new CocoGroundTruth({
      dataset: parseJson(await io.readFile(options.gt), options.gt),
      source: options.gt,
    });
    const detections = loadResultsJson(groundTruth, await io.readFile(options.dt), options.dt);
    const loaded = performance.now();
    if (detections.count === 0) {
      io.stderr(
        `det-coco-eval: warning: ${options.dt}: empty results list (pycocotools raises IndexError here); ` +
          'reporting the stats for no detections\n',
      );
    }
    if (groundTruth.hasDuplicateAnnotationIds) {
      io.stderr(
        `det-coco-eval: warning: ${options.gt}: repeated annotation ids; as in pycocotools, each id stands for the last annotation with it\n`,
      );
    }
    const params: Partial<CocoEvalParams> = { useCats: options.useCats === '1' };
    if (options.maxDets) params.maxDets = options.maxDets;
    if (options.imgIds) params.imgIds = options.imgIds;
    if (options.catIds) params.catIds = options.catIds;
    const evaluator = new CocoEvaluator({ groundTruth, detections, params });
    evaluator.evaluate();
    const evaluated = performance.now();
    evaluator.accumulate();
    const summary = evaluator.summarize();
    const done = performance.now();

    if (options.json) {
      const perCategory: Record<string, { ap: number; ap50: number; ap75: number; ar: number }> =
        {};
      for (const metrics of evaluator.perCategory()) {
        perCategory[String(metrics.categoryId)] = {
          ap: metrics.ap,
          ap50: metrics.ap50,
          ap75: metrics.ap75,
          ar: metrics.ar,
        };
      }
      io.stdout(`${JSON.stringify({ stats: summary.stats, perCategory })}\n`);
    } else {
      io.stdout(`${summary.lines.join('\n')}\n`);
    }
    if (options.verbose) {
      const ms = (value: number) => `${value.toFixed(0)} ms`;
      io.stderr(
        `load ${ms(loaded - started)}, evaluate ${ms(evaluated - loaded)}, accumulate+summarize ${ms(done - evaluated)}; ` +
          `${detections.count} detections, ${groundTruth.annotations.length} GT; ` +
          `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB\n`,
      );
    }
    return 0;
  } catch (error) {
    if (error instanceof CocoInputError || (error as NodeJS.ErrnoException).code === 'ENOENT') {
      io.stderr(`det-coco-eval: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}
