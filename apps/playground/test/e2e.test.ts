import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CocoResult } from '@det/coco-eval';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, ensureChromium, serveFolder } from './browser';
import { buildFixture, type PlaygroundFixture } from './fixtures';

const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Screenshots of every step, for a person to look at (gitignored). */
const screenshots = join(appRoot, 'test-results');

const chromiumReady = ensureChromium();
if (!chromiumReady.ok) {
  console.warn(
    `\n${'!'.repeat(78)}\n!! apps/playground e2e SKIPPED: ${chromiumReady.reason}\n!! (scripts/ci-setup.sh installs Debian's chromium; this machine could not)\n${'!'.repeat(78)}\n`,
  );
}

interface PageDetection {
  box: [number, number, number, number];
  score: number;
  label: number;
  className: string;
}

type Api = {
  runs(): number;
  idle(): Promise<void>;
  backend(): { name: string } | undefined;
  allDetections(): PageDetection[];
  detections(): PageDetection[];
  keptAnchors(): number | undefined;
  metaAnchors(): { height: number; width: number }[] | undefined;
  setHover(point: { x: number; y: number } | undefined): void;
};

declare global {
  interface Window {
    detPlayground: Api;
  }
}

async function settle(page: Page): Promise<void> {
  await page.evaluate(() => window.detPlayground.idle());
}

/**
 * Every page detection pairs with one Node detection of the same class, score within 1e-4 and
 * box within 0.05 px (untrained scores tie, so no order is assumed), and none is left over.
 */
function expectSameDetections(
  drawn: readonly PageDetection[],
  reference: readonly CocoResult[],
  categoryIds: readonly number[],
): void {
  expect(drawn.length).toBe(reference.length);
  const unmatched = new Set(reference.keys());
  drawn.forEach((detection, i) => {
    const [x0, y0, x1, y1] = detection.box;
    const xywh = [x0, y0, x1 - x0, y1 - y0];
    const match = [...unmatched].find((j) => {
      const expected = reference[j]!;
      return (
        expected.category_id === categoryIds[detection.label] &&
        Math.abs(expected.score - detection.score) < 1e-4 &&
        xywh.every((value, k) => Math.abs(value - expected.bbox[k]!) < 0.05)
      );
    });
    expect(
      match,
      `page detection ${i} ${JSON.stringify(detection)} has no Node twin`,
    ).toBeDefined();
    unmatched.delete(match!);
  });
}

describe.skipIf(!chromiumReady.ok)('playground in a real browser (Debian chromium, wasm)', () => {
  let folder: string;
  let fixture: PlaygroundFixture;
  let server: Server;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'det-playground-e2e-'));
    await mkdir(screenshots, { recursive: true });
    // The static site, built as `pnpm --filter playground build` builds it, served from a
    // sub-folder: relative URLs only, wasm binaries beside it, nothing from the network.
    const started = performance.now();
    await build({
      root: appRoot,
      logLevel: 'warn',
      build: { outDir: join(folder, 'site'), emptyOutDir: true },
    });
    const built = performance.now();
    fixture = await buildFixture(join(folder, 'fixture'));
    console.log(
      `playground e2e: site built in ${((built - started) / 1000).toFixed(1)} s, models trained, exported and predicted in Node in ${((performance.now() - built) / 1000).toFixed(1)} s`,
    );
    ({ server } = await serveFolder(join(folder, 'site'), '/some/folder/'));
    const address = server.address() as { port: number };
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('requestfailed', (request) => pageErrors.push(`request failed: ${request.url()}`));
    await page.goto(`http://127.0.0.1:${address.port}/some/folder/?backend=wasm`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('loads an exported MetaAnchor model from the file picker; its detections are det predict’s', async () => {
    expect(await page.evaluate(() => window.detPlayground.backend()?.name)).toBe('wasm');
    await expect.poll(() => page.locator('#backend').getAttribute('data-backend')).toBe('wasm');
    await page.setInputFiles('#model-files', [
      fixture.models.meta.tensors,
      fixture.models.meta.json,
    ]);
    await page.waitForFunction(() => window.detPlayground.runs() > 0, undefined, {
      timeout: 60_000,
    });
    await settle(page);
    await page.locator('#score').fill('0');
    expect(await page.locator('#model-info').textContent()).toMatch(
      /model.safetensors: single-stage, meta anchors, 5 classes \(rectangle, ellipse, triangle, bar, ring\), iteration 2/,
    );
    expect(await page.locator('#timing').textContent()).toMatch(/inference: \d+ ms/);

    const drawn = await page.evaluate(() => window.detPlayground.detections());
    expect(fixture.reference.meta.length).toBeGreaterThan(10);
    expectSameDetections(drawn, fixture.reference.meta, fixture.categoryIds);
    expect((await page.locator('#detections li').count()) > 0).toBe(true);
    await page.screenshot({ path: join(screenshots, 'meta-loaded.png'), fullPage: true });
  });

  it('moves the MetaAnchor scale slider: the anchors double, the boxes change, the weights stay', async () => {
    const anchorsBefore = await page.evaluate(() => window.detPlayground.metaAnchors());
    const before = await page.evaluate(() => window.detPlayground.allDetections());
    expect(anchorsBefore).toHaveLength(9);
    await page.locator('#meta-scale').fill('1');
    await settle(page);
    const anchorsAfter = await page.evaluate(() => window.detPlayground.metaAnchors());
    anchorsAfter!.forEach((anchor, i) => {
      expect(anchor.height).toBeCloseTo(2 * anchorsBefore![i]!.height, 3);
      expect(anchor.width).toBeCloseTo(2 * anchorsBefore![i]!.width, 3);
    });
    const after = await page.evaluate(() => window.detPlayground.allDetections());
    const moved = after.filter((d, i) => {
      const b = before[i];
      return !b || d.box.some((v, k) => Math.abs(v - b.box[k]!) > 0.5);
    });
    expect(moved.length).toBeGreaterThan(after.length / 2);
    await page.evaluate(() => window.detPlayground.setHover({ x: 160, y: 160 }));
    await page.screenshot({ path: join(screenshots, 'meta-scale-2x.png'), fullPage: true });

    // A Table 1 preset: 5 scales × 5 ratios.
    await page.locator('button[data-preset="5x5"]').click();
    await settle(page);
    expect(await page.evaluate(() => window.detPlayground.metaAnchors()?.length)).toBe(25);
    expect(await page.locator('#meta-scales').inputValue()).toBe('1, 1.149, 1.32, 1.516, 1.741');
    // An explicit (h, w) list replaces scales × ratios.
    await page.locator('#meta-explicit').fill('32, 64\n64, 32');
    await settle(page);
    expect(await page.evaluate(() => window.detPlayground.metaAnchors())).toEqual([
      { height: expect.closeTo(32, 3), width: expect.closeTo(64, 3) },
      { height: expect.closeTo(64, 3), width: expect.closeTo(32, 3) },
    ]);
    await page.locator('#meta-explicit').fill('32, x');
    await expect
      .poll(() => page.locator('#meta-info').textContent())
      .toMatch(/explicit anchor 1: 'x' is not a positive number/);
  });

  it('loads a GA model by drag and drop: p maps per level, the εL slider lowers the kept-anchor count', async () => {
    const runs = await page.evaluate(() => window.detPlayground.runs());
    // This one by drag and drop onto the image.
    const files = {
      tensors: (await readFile(fixture.models.guided.tensors)).toString('base64'),
      json: await readFile(fixture.models.guided.json, 'utf8'),
    };
    const dataTransfer = await page.evaluateHandle(({ tensors, json }) => {
      const transfer = new DataTransfer();
      const bytes = Uint8Array.from(atob(tensors), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], 'model.safetensors'));
      transfer.items.add(new File([json], 'model.json', { type: 'application/json' }));
      return transfer;
    }, files);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    await page.waitForFunction((n) => window.detPlayground.runs() > n, runs, { timeout: 60_000 });
    await settle(page);
    expect(await page.locator('#meta-panel').isHidden()).toBe(true);
    expect(await page.locator('#guided-panel').isVisible()).toBe(true);
    expect(await page.locator('#ga-level option').allTextContents()).toEqual([
      'max over levels',
      'P3 (stride 8)',
      'P4 (stride 16)',
      'P5 (stride 32)',
      'P6 (stride 64)',
      'P7 (stride 128)',
      'none',
    ]);
    // At the model's εL the page detects what det predict does.
    const drawn = await page.evaluate(() => window.detPlayground.allDetections());
    expectSameDetections(drawn, fixture.reference.guided, fixture.categoryIds);

    const keptBefore = (await page.evaluate(() => window.detPlayground.keptAnchors()))!;
    // 320 px: 40² + 20² + 10² + 5² + 3² locations.
    expect(await page.locator('#ga-info').textContent()).toContain(
      `${keptBefore} of 2134 locations`,
    );
    await page.locator('#ga-show-kept').check();
    await page.evaluate(() => window.detPlayground.setHover({ x: 120, y: 200 }));
    await page.screenshot({ path: join(screenshots, 'guided-loaded.png'), fullPage: true });

    await page.locator('#ga-threshold').fill('-1.7');
    await settle(page);
    const keptAfter = (await page.evaluate(() => window.detPlayground.keptAnchors()))!;
    expect(keptAfter).toBeLessThan(keptBefore);
    expect(await page.locator('#ga-info').getAttribute('data-kept')).toBe(String(keptAfter));
    await page.screenshot({ path: join(screenshots, 'guided-threshold.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
