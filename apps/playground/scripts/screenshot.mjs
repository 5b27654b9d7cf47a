// The README's screenshot: serves the built site (apps/playground/dist), loads a `det export`
// folder in Debian's chromium and saves the page.
//   [SAMPLE=i] [SCORE=s] node scripts/screenshot.mjs EXPORT_DIR OUT.png [wasm|webgpu|cpu] [hoverX hoverY]
// webgpu runs on SwiftShader here (no GPU): slow, for trying the code path only.
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';

const [modelDir, out, backend = 'wasm', hoverX, hoverY] = process.argv.slice(2);
if (!modelDir || !out) {
  console.error(
    'usage: node scripts/screenshot.mjs EXPORT_DIR OUT.png [wasm|webgpu|cpu] [hoverX hoverY]',
  );
  process.exit(2);
}
const root = new URL('../dist/', import.meta.url).pathname;
const types = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
};
const server = createServer(async (request, response) => {
  let file = join(root, new URL(request.url ?? '/', 'http://x').pathname);
  try {
    if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    const body = await readFile(file);
    response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    response.end(body);
  } catch {
    response.writeHead(404).end();
  }
}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.on('listening', resolve));
const args = ['--no-sandbox', '--disable-dev-shm-usage'];
if (backend === 'webgpu') {
  args.push(
    '--enable-unsafe-webgpu',
    '--use-webgpu-adapter=swiftshader',
    '--enable-unsafe-swiftshader',
  );
}
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args,
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on('pageerror', (error) => console.log('page error:', error.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/?backend=${backend}`);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', {
    timeout: 120_000,
  });
  await page.setInputFiles('#model-files', [
    join(modelDir, 'model.safetensors'),
    join(modelDir, 'model.json'),
  ]);
  await page.waitForFunction(() => window.detPlayground.runs() > 0, undefined, {
    timeout: 300_000,
  });
  await page.evaluate(() => window.detPlayground.idle());
  if (process.env.SAMPLE) {
    const runs = await page.evaluate(() => window.detPlayground.runs());
    await page.locator(`canvas[data-sample="${process.env.SAMPLE}"]`).click();
    await page.waitForFunction((n) => window.detPlayground.runs() > n, runs);
    await page.evaluate(() => window.detPlayground.idle());
  }
  if (process.env.SCORE) await page.locator('#score').fill(process.env.SCORE);
  if (await page.locator('#ga-show-kept').isVisible()) await page.locator('#ga-show-kept').check();
  if (hoverX !== undefined) {
    await page.evaluate(
      ([x, y]) => window.detPlayground.setHover({ x, y }),
      [Number(hoverX), Number(hoverY)],
    );
  }
  console.log(
    [
      await page.locator('#backend').textContent(),
      await page.locator('#timing').textContent(),
      await page.locator('#detections-summary').textContent(),
      await page.locator('#ga-info').textContent(),
    ].join(' | '),
  );
  await page.screenshot({ path: out });
} finally {
  await browser.close();
  server.close();
}
