// Proves a det package is publishable on its own: `pnpm pack` → a tarball that installs
// into an empty folder next to its peer @tensorflow/tfjs-core and imports without the
// workspace. Usage: node scripts/pack-check.mjs <package-dir> [<js to evaluate>]
// Installs from pnpm's store (filled by the workspace install), reaching the npm registry
// only for metadata the store lacks.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const packageDir = resolve(process.argv[2] ?? '.');
const probe = process.argv[3] ?? 'console.log(JSON.stringify(Object.keys(m).sort()))';
const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const workDir = mkdtempSync(join(tmpdir(), 'det-pack-'));
const pnpm = (args, cwd) =>
  execFileSync('corepack', ['pnpm', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
try {
  const packed = pnpm(['pack', '--pack-destination', workDir], packageDir).trim().split('\n').pop();
  const tarball = resolve(packageDir, packed);
  const consumer = join(workDir, 'consumer');
  execFileSync('mkdir', ['-p', consumer]);
  const peers = manifest.peerDependencies ?? {};
  const optional = manifest.peerDependenciesMeta ?? {};
  const dependencies = { [manifest.name]: `file:${tarball}` };
  for (const [name, range] of Object.entries(peers)) {
    if (!optional[name]?.optional) dependencies[name] = range.replace(/^\^/, '');
  }
  // The workspace's pinned pnpm, so corepack needs no other version.
  const { packageManager } = JSON.parse(
    readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
  );
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({
      name: 'consumer',
      private: true,
      type: 'module',
      packageManager,
      dependencies,
    }),
  );
  pnpm(
    ['install', '--prefer-offline', '--ignore-workspace', '--config.auto-install-peers=false'],
    consumer,
  );
  const script = `const m = await import(${JSON.stringify(manifest.name)}); ${probe}`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: consumer,
    encoding: 'utf8',
  });
  process.stdout.write(out);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
