import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

export const chromiumPath = '/usr/bin/chromium';

/**
 * Debian's chromium, installed when absent (scripts/ci-setup.sh installs it for CI). Returns
 * why it cannot be had (not root, no apt) so the caller skips loudly; never downloads a
 * browser build of its own.
 */
export function ensureChromium(): { ok: true } | { ok: false; reason: string } {
  if (existsSync(chromiumPath)) return { ok: true };
  if (process.getuid?.() !== 0) {
    return {
      ok: false,
      reason: `${chromiumPath} is missing and installing it needs root (apt-get install chromium)`,
    };
  }
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 600_000,
    });
  } catch (error) {
    return { ok: false, reason: `apt-get install chromium failed: ${(error as Error).message}` };
  }
  return existsSync(chromiumPath)
    ? { ok: true }
    : { ok: false, reason: `apt-get ran but ${chromiumPath} is still missing` };
}

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * A static file server for `root` mounted under `prefix` (e.g. `/some/folder/`), on 127.0.0.1:
 * a built site with relative URLs must work from any folder, not only from `/`.
 */
export async function serveFolder(
  root: string,
  prefix: string,
): Promise<{ url: string; server: Server }> {
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    if (!path.startsWith(prefix)) {
      response.writeHead(404).end();
      return;
    }
    let file = normalize(join(root, path.slice(prefix.length)));
    if (!file.startsWith(root + sep) && file !== root) {
      response.writeHead(403).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      response.writeHead(200, {
        'content-type': types[extname(file)] ?? 'application/octet-stream',
      });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  return { url: `http://127.0.0.1:${address.port}${prefix}`, server };
}
