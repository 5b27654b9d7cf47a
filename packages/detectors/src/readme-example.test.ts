import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@det/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Runs the root README's "Mix anchoring schemes in your own detector" example as written:
 * the code block is written next to this package (so its bare imports resolve as they would
 * for a user), with `@det/detectors` pointed at this package's source, and imported.
 */
describe('README: Mix anchoring schemes in your own detector', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('builds a meta-guided RetinaNet and a Meta-RPN from presets, a config and parts; each trains and predicts', async () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const block =
      /<!-- readme-example:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(
        readme,
      )?.[1];
    expect(block).toBeDefined();
    const index = fileURLToPath(new URL('./index.ts', import.meta.url));
    const file = fileURLToPath(new URL(`../.readme-example-${process.pid}.ts`, import.meta.url));
    writeFileSync(file, block!.replace("from '@det/detectors'", `from '${index}'`));
    const before = tf.memory().numTensors;
    const log = console.log;
    console.log = () => {};
    try {
      const { summary } = (await import(/* @vite-ignore */ file)) as { summary: string[] };
      expect(summary).toHaveLength(5);
      expect(summary[0]).toMatch(
        /^metaGuidedRetinaNet: loss_cls loss_bbox loss_loc loss_shape; \d+ boxes$/,
      );
      expect(summary[1]).toMatch(/^metaRpn: loss_rpn_cls loss_rpn_bbox; \d+ boxes$/);
      expect(summary[2]).toMatch(
        /^metaGuidedFaster: loss_rpn_cls loss_rpn_bbox loss_loc loss_shape loss_cls loss_bbox; \d+ boxes$/,
      );
      expect(summary[3]).toMatch(/^partsRetinaNet: loss_cls loss_bbox loss_loc loss_shape; /);
      expect(summary[4]).toMatch(/^partsRpn: loss_rpn_cls loss_rpn_bbox; /);
    } finally {
      console.log = log;
      rmSync(file, { force: true });
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 300_000);
});
