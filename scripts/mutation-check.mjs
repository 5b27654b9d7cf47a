#!/usr/bin/env node
/**
 * Mutation check of the test suite: applies deliberate, realistic bugs one at a time to a
 * throwaway copy of the repository and confirms that the tests of the package holding the
 * bug fail. Prints a Markdown table (the README's "Working on det" section keeps the last
 * one). Not part of CI (a few minutes on 2 cores).
 *
 *   node scripts/mutation-check.mjs            # every mutation
 *   node scripts/mutation-check.mjs nms-ge     # only the named ones
 *
 * The copy shares node_modules with this checkout (a symlink) and holds everything else.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each bug: the file, the exact text it replaces (must occur once), and the package to test. */
const mutations = [
  {
    id: 'iou-plus-one',
    bug: 'off-by-one in IoU: legacy +1 on box widths/heights of the areas',
    file: 'packages/core/src/boxes/box-overlaps.ts',
    from: 'const areaA = tf.mul(tf.sub(ax2!, ax1!), tf.sub(ay2!, ay1!));',
    to: 'const areaA = tf.mul(tf.add(tf.sub(ax2!, ax1!), 1), tf.add(tf.sub(ay2!, ay1!), 1));',
    package: 'core',
  },
  {
    id: 'coder-swap-dx-dy',
    bug: 'swapped dx/dy in the delta coder (stds path)',
    file: 'packages/core/src/coders/delta-xywh-box-coder.ts',
    from: `          tf.div(raw[0][0], raw[0][1]),
          tf.div(raw[1][0], raw[1][1]),
          tf.log(tf.div(gw, pw)),`,
    to: `          tf.div(raw[1][0], raw[1][1]),
          tf.div(raw[0][0], raw[0][1]),
          tf.log(tf.div(gw, pw)),`,
    package: 'core',
  },
  {
    id: 'deform-nan',
    bug: 'NaN in an op: deformConv2d output multiplied by NaN',
    file: 'packages/core/src/ops/deform-conv2d.ts',
    from: 'const value = tf.reshape(out, [batch, outHeight, outWidth, outChannels]);',
    to: 'const value = tf.mul(tf.reshape(out, [batch, outHeight, outWidth, outChannels]), Number.NaN);',
    package: 'core',
  },
  {
    id: 'roi-align-nan-one',
    bug: 'NaN in an op: the first RoIAlign output element NaN (the rest exact)',
    file: 'packages/core/src/ops/roi-align.ts',
    from: 'return tf.reshape(pool(flat), [count, outHeight, outWidth, channels]) as tf.Tensor4D;',
    to: `const pooledOut = tf.reshape(pool(flat), [count, outHeight, outWidth, channels]);
    if (pooledOut.size === 0) return pooledOut as tf.Tensor4D;
    const firstOnly = tf.reshape(tf.oneHot(tf.scalar(0, 'int32'), pooledOut.size), pooledOut.shape);
    return tf.where(tf.cast(firstOnly, 'bool'), tf.fill(pooledOut.shape, Number.NaN), pooledOut) as tf.Tensor4D;`,
    package: 'core',
  },
  {
    id: 'focal-gamma',
    bug: "wrong focal-loss γ in RetinaNet's head (1 instead of 2)",
    file: 'packages/heads/src/retina-head.ts',
    from: 'focalClassificationLoss({ alpha: 0.25, gamma: 2 })',
    to: 'focalClassificationLoss({ alpha: 0.25, gamma: 1 })',
    package: 'heads',
  },
  {
    id: 'focal-gamma-default',
    bug: 'wrong focal-loss γ default in @det/losses (1.5 instead of 2)',
    file: 'packages/losses/src/sigmoid-focal-loss.ts',
    fromPattern: /gamma = 2\b/,
    to: 'gamma = 1.5',
    package: 'losses',
  },
  {
    id: 'nms-ge',
    bug: 'wrong NMS comparison: IoU ≥ threshold suppresses (torchvision: >)',
    file: 'packages/core/src/nms/nms.ts',
    from: 'if (overlap > iouThreshold) suppressed[s] = 1;',
    to: 'if (overlap >= iouThreshold) suppressed[s] = 1;',
    package: 'core',
  },
  {
    id: 'nms-lt',
    bug: 'wrong NMS comparison: IoU < threshold suppresses',
    file: 'packages/core/src/nms/nms.ts',
    from: 'if (overlap > iouThreshold) suppressed[s] = 1;',
    to: 'if (overlap < iouThreshold) suppressed[s] = 1;',
    package: 'core',
  },
];

function copyRepository() {
  const copy = mkdtempSync(join(tmpdir(), 'det-mutation-'));
  for (const entry of readdirSync(root)) {
    if (entry === 'node_modules' || entry === '.git' || entry === '.turbo') continue;
    cpSync(join(root, entry), join(copy, entry), {
      recursive: true,
      verbatimSymlinks: true,
      // dist/ comes along: a few tests (packing, the wasm-thread child) read the build.
      filter: (source) => !source.includes('/.turbo'),
    });
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

function apply(copy, mutation) {
  const path = join(copy, mutation.file);
  const original = readFileSync(path, 'utf8');
  let mutated;
  if (mutation.fromPattern) {
    if (!mutation.fromPattern.test(original)) {
      throw new Error(`${mutation.id}: pattern not found in ${mutation.file}`);
    }
    mutated = original.replace(mutation.fromPattern, mutation.to);
  } else {
    const count = original.split(mutation.from).length - 1;
    if (count !== 1) {
      throw new Error(`${mutation.id}: expected the text once in ${mutation.file}, found ${count}`);
    }
    mutated = original.replace(mutation.from, mutation.to);
  }
  writeFileSync(path, mutated);
  return () => writeFileSync(path, original);
}

/** Runs the package's unit tests in the copy; returns whether they failed and which files. */
function runTests(copy, packageName) {
  const started = performance.now();
  const result = spawnSync('pnpm', ['exec', 'vitest', 'run', '--reporter=dot'], {
    cwd: join(copy, 'packages', packageName),
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout}\n${result.stderr}`;
  const failedFiles = [
    ...new Set([...output.matchAll(/FAIL\s+(src\/\S+\.test\.ts)/g)].map((m) => m[1])),
  ];
  // "3 failed | 136 passed (139)" → "3 failed, 136 passed (139)" (a table cell).
  const summary = (output.match(/Tests\s+(.*)/)?.[1] ?? '').trim().replace(' | ', ', ');
  return {
    output,
    failed: result.status !== 0,
    failedFiles,
    summary,
    seconds: (performance.now() - started) / 1000,
  };
}

function main() {
  const only = process.argv.slice(2);
  const selected = only.length ? mutations.filter((m) => only.includes(m.id)) : mutations;
  const copy = copyRepository();
  const rows = [];
  try {
    // The unmutated copy must pass, or a "caught" mutation means nothing.
    const packages = [...new Set(selected.map((m) => m.package))];
    for (const name of packages) {
      const baseline = runTests(copy, name);
      console.error(
        `baseline @det/${name}: ${baseline.summary} (${baseline.seconds.toFixed(0)} s)`,
      );
      if (baseline.failed) {
        throw new Error(
          `baseline tests of @det/${name} fail in the copy (${baseline.failedFiles.join(', ')}):\n${baseline.output.slice(-4000)}`,
        );
      }
    }
    for (const mutation of selected) {
      const restore = apply(copy, mutation);
      const result = runTests(copy, mutation.package);
      restore();
      console.error(
        `${mutation.id}: ${result.failed ? 'caught' : 'SURVIVED'} (${result.summary}; ${result.seconds.toFixed(0)} s)`,
      );
      rows.push({ mutation, result });
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
  console.log('| mutation | package tests | result | failing test files |');
  console.log('| --- | --- | --- | --- |');
  for (const { mutation, result } of rows) {
    console.log(
      `| ${mutation.bug} (\`${mutation.file.replace('packages/', '')}\`) | @det/${mutation.package}: ${result.summary} | ${result.failed ? 'caught' : '**survived**'} | ${result.failedFiles.map((f) => `\`${f}\``).join(', ')} |`,
    );
  }
  if (rows.some(({ result }) => !result.failed)) process.exitCode = 1;
}

main();
