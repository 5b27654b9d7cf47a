// The release path, end to end, as a user meets it (issue 20). On a throwaway copy of the
// workspace: `changeset version`, then publint and attw on each library's packed tarball,
// then `pnpm publish -r` to a Verdaccio registry on 127.0.0.1. Then, per library, in an
// empty folder: `npm install` exactly the README's install line (the library alone, its
// peer tfjs-core, a backend where the README says so), type-check the README's first `ts`
// example under `strict` with moduleResolution `bundler` and `node16` (no @types/node),
// and run it. Last, the release flow: a changeset on @det/losses alone versions only
// @det/losses, and @det/detectors installs and runs against the new @det/losses.
//
// Libraries are the workspace's non-private packages, found with `pnpm ls`. Verdaccio
// serves @det/* only from what was published here and proxies everything else to the npm
// registry this machine is configured with. Needs every library built (`turbo run build`).
// Usage: node scripts/registry-test.mjs [--keep] [--only @det/x,@det/y]
import { execFile as execFileCallback, execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCallback);
const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const bin = (path) => join(root, 'node_modules', path);
const keep = process.argv.includes('--keep');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex > 0 ? process.argv[onlyIndex + 1].split(',') : null;
const started = Date.now();
const timings = [];
const seconds = (since) => ((Date.now() - since) / 1000).toFixed(1);
async function phase(name, work) {
  const since = Date.now();
  const result = await work();
  timings.push(`${name} ${seconds(since)} s`);
  console.log(`registry-test: ${name} (${seconds(since)} s)`);
  return result;
}

/** Runs a command; on failure throws with its output, naming the command and folder. */
async function run(command, args, options = {}) {
  try {
    const { stdout } = await execFile(command, args, {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 300_000,
      ...options,
      env: { ...inherited, ...environment, ...options.env },
    });
    return stdout;
  } catch (error) {
    const where = options.cwd ? ` (in ${options.cwd})` : '';
    throw new Error(
      `${command} ${args.join(' ')}${where} failed:\n${error.stdout ?? ''}${error.stderr ?? error.message}`,
    );
  }
}

async function inParallel(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const upstream = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
const work = mkdtempSync(join(tmpdir(), 'det-registry-'));
// Run under `pnpm check`, the process inherits pnpm's npm_config_* (registry among them), which
// would override the throwaway userconfig and send installs to the public registry: drop them.
const inherited = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^npm_config_/i.test(name)),
);
const environment = {
  npm_config_userconfig: join(work, 'npmrc'),
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  COREPACK_ENABLE_DOWNLOAD_PROMPT: '0',
};
let verdaccio;
// The registry never outlives the test, even when the test is interrupted.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    verdaccio?.kill();
    if (!keep) rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

try {
  // --- the workspace's libraries, found rather than listed: a new package is covered too.
  const workspace = JSON.parse(
    execFileSync('pnpm', ['ls', '-r', '--depth', '-1', '--json'], { cwd: root, encoding: 'utf8' }),
  );
  const libraries = workspace
    .filter((entry) => entry.path !== root && !entry.private)
    .map((entry) => ({ name: entry.name, dir: relative(root, entry.path) }));
  if (libraries.length < 9) throw new Error(`found only ${libraries.length} libraries`);
  for (const library of libraries) {
    if (!existsSync(join(root, library.dir, 'dist'))) {
      throw new Error(`${library.name}: ${library.dir}/dist is missing; build first`);
    }
  }

  // --- registry on 127.0.0.1: @det/* only from here, everything else from the npm registry.
  const port = await freePort();
  const registry = `http://127.0.0.1:${port}/`;
  writeFileSync(
    join(work, 'verdaccio.yaml'),
    [
      `storage: ${join(work, 'storage')}`,
      'auth:',
      `  htpasswd: { file: ${join(work, 'htpasswd')}, max_users: 10 }`,
      'uplinks:',
      `  npmjs: { url: ${upstream}, timeout: 60s, maxage: 60m }`,
      'packages:',
      "  '@det/*': { access: $all, publish: $authenticated, unpublish: $authenticated }",
      "  '**': { access: $all, publish: $authenticated, proxy: npmjs }",
      'log: { type: stdout, format: pretty, level: error }',
      'web: { enable: false }',
    ].join('\n'),
  );
  await phase('start verdaccio', async () => {
    verdaccio = spawn(
      process.execPath,
      [
        bin('verdaccio/bin/verdaccio'),
        '--config',
        join(work, 'verdaccio.yaml'),
        '--listen',
        `127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    for (let attempt = 0; ; attempt++) {
      try {
        if ((await fetch(`${registry}-/ping`)).ok) break;
      } catch {}
      if (attempt > 300 || verdaccio.exitCode !== null) throw new Error('verdaccio did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const response = await fetch(`${registry}-/user/org.couchdb.user:det`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'det', password: 'det-registry-test' }),
    });
    const { token } = await response.json();
    if (!token) throw new Error(`verdaccio gave no token (${response.status})`);
    const host = registry.replace(/^http:/, '');
    writeFileSync(
      environment.npm_config_userconfig,
      `registry=${registry}\n${host}:_authToken=${token}\n`,
    );
    environment.npm_config_registry = registry;
  });

  // --- the release path on a throwaway copy: changeset version, check, publish.
  const copy = join(work, 'repo');
  await phase('copy workspace + changeset version', async () => {
    mkdirSync(copy);
    for (const file of ['package.json', 'pnpm-workspace.yaml', 'LICENSE', '.changeset']) {
      cpSync(join(root, file), join(copy, file), { recursive: true });
    }
    for (const entry of workspace.filter((item) => item.path !== root)) {
      cpSync(entry.path, join(copy, relative(root, entry.path)), {
        recursive: true,
        filter: (source) => !/[\\/](node_modules|\.turbo|\.cache|coverage)$/.test(source),
      });
    }
    // The tools (changesets' changelog module, pnpm's catalogs) resolve from the copy.
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    // pnpm resolves `workspace:` ranges through each package's links to its siblings: lay
    // those links to the copy's own packages, whose versions `changeset version` bumps.
    const byName = new Map(workspace.map((entry) => [entry.name, relative(root, entry.path)]));
    for (const entry of workspace.filter((item) => item.path !== root)) {
      const manifest = readJson(join(entry.path, 'package.json'));
      const siblings = Object.entries({
        ...manifest.dependencies,
        ...manifest.devDependencies,
        ...manifest.peerDependencies,
      }).filter(([, range]) => String(range).startsWith('workspace:'));
      for (const [name] of siblings) {
        const link = join(copy, relative(root, entry.path), 'node_modules', name);
        mkdirSync(dirname(link), { recursive: true });
        symlinkSync(join(copy, byName.get(name)), link);
      }
    }
    await run(process.execPath, [bin('@changesets/cli/bin.js'), 'version'], { cwd: copy });
  });
  const versions = Object.fromEntries(
    libraries.map((library) => [
      library.name,
      readJson(join(copy, library.dir, 'package.json')).version,
    ]),
  );
  for (const [name, version] of Object.entries(versions)) {
    if (version === '0.0.0') throw new Error(`${name}: changeset version left it at 0.0.0`);
  }

  await phase('publint + attw on every packed library', async () => {
    const packs = join(work, 'packs');
    mkdirSync(packs);
    await inParallel(libraries, 2, async (library) => {
      const out = await run('pnpm', ['pack', '--pack-destination', packs], {
        cwd: join(copy, library.dir),
      });
      const tarball = out.trim().split('\n').pop();
      const listing = await run('tar', ['tzf', tarball]);
      for (const required of ['package/LICENSE', 'package/README.md', 'package/package.json']) {
        if (!listing.split('\n').includes(required)) {
          throw new Error(`${library.name}: the tarball lacks ${required.slice(8)}`);
        }
      }
      const manifest = await run('tar', ['xzOf', tarball, 'package/package.json']);
      if (/@det\/source|workspace:|catalog:/.test(manifest)) {
        throw new Error(
          `${library.name}: the packed package.json names @det/source, workspace: or catalog:`,
        );
      }
      await run(process.execPath, [bin('publint/src/cli.js'), '--strict', tarball]);
      await run(process.execPath, [
        bin('@arethetypeswrong/cli/dist/index.js'),
        tarball,
        '--profile',
        'esm-only',
        '--format',
        'ascii',
      ]);
    });
  });

  await phase('pnpm publish -r', () =>
    run('pnpm', ['publish', '-r', '--no-git-checks', '--registry', registry], { cwd: copy }),
  );

  // --- each library alone in an empty folder, as its README says.
  const typescript = (await import(bin('typescript/lib/typescript.js'))).default;
  const tsc = bin('typescript/bin/tsc');
  const compilerOptions = {
    strict: true,
    target: 'ES2022',
    lib: ['ES2023', 'DOM'],
    noEmit: true,
    skipLibCheck: false,
    skipDefaultLibCheck: true, // TypeScript's own lib.*.d.ts need no checking
  };
  // Every .d.ts (ours and tfjs-core's) is checked once, under `bundler`; `node16` checks that
  // the example and every entry point resolve and type-check the Node way (attw has already
  // checked the .d.ts files' own imports under node16), so it skips the library check.
  const resolutions = {
    bundler: { module: 'preserve', moduleResolution: 'bundler' },
    node16: { module: 'node16', moduleResolution: 'node16', skipLibCheck: true },
  };

  /** The README's `npm install` line and first `ts` block: what a newcomer copies. */
  function readmeRecipe(library, readmeDir) {
    const readme = readFileSync(join(readmeDir, 'README.md'), 'utf8');
    const install = readme
      .match(/^npm install (.+)$/m)?.[1]
      ?.trim()
      .split(/\s+/);
    if (!install?.includes(library.name)) {
      throw new Error(`${library.name}: README.md has no \`npm install ${library.name} …\` line`);
    }
    const extras = install.filter((name) => name !== library.name);
    const allowed = (name) =>
      name === '@tensorflow/tfjs-core' || /^@tensorflow\/tfjs-backend-[a-z]+$/.test(name);
    if (!extras.every(allowed)) {
      throw new Error(
        `${library.name}: README's install line adds ${extras.filter((name) => !allowed(name)).join(' ')}: a library must install alone (plus tfjs-core and a backend)`,
      );
    }
    const example = readme.match(/^```ts\n([\s\S]*?)^```/m)?.[1];
    if (!example) throw new Error(`${library.name}: README.md has no \`\`\`ts example`);
    // The example may import only what that install brings: the library, its own
    // dependencies, tfjs-core, the backend installed, and Node's modules.
    const { dependencies = {} } = readJson(join(readmeDir, 'package.json'));
    const importable = (specifier) =>
      specifier.startsWith('node:') ||
      install.includes(specifier) ||
      [library.name, ...Object.keys(dependencies)].some(
        (name) => specifier === name || specifier.startsWith(`${name}/`),
      );
    const imports = [...example.matchAll(/^import [^;]*?'([^']+)';/gms)].map((match) => match[1]);
    const stray = imports.filter((specifier) => !importable(specifier));
    if (stray.length > 0) {
      throw new Error(
        `${library.name}: the README example imports ${stray.join(', ')}, which \`${install.join(' ')}\` does not install`,
      );
    }
    return { install, example };
  }

  async function tryAsUser(library, folderName, readmeDir, { typeCheck = true } = {}) {
    const { install, example } = readmeRecipe(library, readmeDir);
    const folder = join(work, 'users', folderName);
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      join(folder, 'package.json'),
      JSON.stringify({ name: 'newcomer', private: true, type: 'module' }),
    );
    const steps = [];
    let since = Date.now();
    const step = (name) => {
      steps.push(`${name} ${seconds(since)} s`);
      since = Date.now();
    };
    await run('npm', ['install', '--no-package-lock', '--loglevel=error', ...install], {
      cwd: folder,
    });
    step('install');
    // Type-checked as a user would, with the @types the install brought (tfjs-core's need
    // `long`) but never Node's: a det .d.ts that names Buffer or NodeJS fails here.
    if (existsSync(join(folder, 'node_modules/@types/node'))) {
      throw new Error(`${library.name}: installing it alone brings @types/node`);
    }
    writeFileSync(join(folder, 'example.ts'), example);
    // Every entry point the package exports, so each shipped .d.ts is checked too.
    const { exports = {} } = readJson(join(folder, 'node_modules', library.name, 'package.json'));
    const entryPoints = Object.keys(exports).filter((key) => !key.endsWith('.json'));
    writeFileSync(
      join(folder, 'entry-points.ts'),
      `${entryPoints.map((key, index) => `import * as entry${index} from '${library.name}${key.slice(1)}';`).join('\n')}\nexport const entries = [${entryPoints.map((_, index) => `entry${index}`).join(', ')}];\n`,
    );
    for (const [name, options] of typeCheck ? Object.entries(resolutions) : []) {
      writeFileSync(
        join(folder, `tsconfig.${name}.json`),
        JSON.stringify({
          compilerOptions: { ...compilerOptions, ...options },
          files: ['example.ts', 'entry-points.ts'],
        }),
      );
      await run(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], { cwd: folder });
      step(`tsc ${name}`);
    }
    const { outputText } = typescript.transpileModule(example, {
      compilerOptions: {
        module: typescript.ModuleKind.ESNext,
        target: typescript.ScriptTarget.ES2022,
      },
    });
    writeFileSync(join(folder, 'example.mjs'), outputText);
    const output = await run(process.execPath, ['example.mjs'], { cwd: folder, timeout: 180_000 });
    step('run');
    return { folder, output, steps };
  }

  const tried = only ? libraries.filter((library) => only.includes(library.name)) : libraries;
  await phase(
    `install alone, type-check and run the README example of ${tried.length} libraries`,
    () =>
      inParallel(tried, 3, async (library) => {
        const since = Date.now();
        const { output, steps } = await tryAsUser(
          library,
          library.name.replace('/', '__'),
          join(copy, library.dir),
        );
        const last = output.trim().split('\n').pop() ?? '';
        console.log(
          `  ${library.name}@${versions[library.name]} ok in ${seconds(since)} s (${steps.join(', ')}): ${last.slice(0, 100)}`,
        );
      }),
  );

  // --- release flow: a patch of @det/losses alone versions only @det/losses.
  const detectors = libraries.find((library) => library.name === '@det/detectors');
  const losses = libraries.find((library) => library.name === '@det/losses');
  await phase('release flow: @det/losses alone', async () => {
    writeFileSync(
      join(copy, '.changeset', 'losses-alone.md'),
      '---\n"@det/losses": patch\n---\nfix(losses): registry-test release-flow check\n',
    );
    await run(process.execPath, [bin('@changesets/cli/bin.js'), 'version'], { cwd: copy });
    const changed = libraries.filter(
      (library) =>
        readJson(join(copy, library.dir, 'package.json')).version !== versions[library.name],
    );
    const changedNames = changed.map((library) => library.name);
    if (changedNames.join() !== '@det/losses') {
      throw new Error(
        `a patch of @det/losses alone changed the versions of: ${changedNames.join(', ')}`,
      );
    }
    const newLosses = readJson(join(copy, losses.dir, 'package.json')).version;
    await run('pnpm', ['publish', '-r', '--no-git-checks', '--registry', registry], { cwd: copy });
    const { folder } = await tryAsUser(
      detectors,
      'detectors-after-losses-patch',
      join(copy, detectors.dir),
      { typeCheck: false },
    );
    const installed = readJson(join(folder, 'node_modules/@det/losses/package.json')).version;
    if (installed !== newLosses) {
      throw new Error(
        `@det/detectors installed @det/losses ${installed}, expected the new ${newLosses}`,
      );
    }
    console.log(
      `  @det/losses ${versions['@det/losses']} → ${newLosses}; detectors installs and runs against it`,
    );

    // A minor of @det/losses leaves `^0.x` ranges behind: exactly its direct runtime
    // dependents must follow (a patch each); nothing else moves.
    const patched = Object.fromEntries(
      libraries.map((library) => [
        library.name,
        readJson(join(copy, library.dir, 'package.json')).version,
      ]),
    );
    writeFileSync(
      join(copy, '.changeset', 'losses-minor.md'),
      '---\n"@det/losses": minor\n---\nfeat(losses): registry-test release-flow check\n',
    );
    await run(process.execPath, [bin('@changesets/cli/bin.js'), 'version'], { cwd: copy });
    const moved = libraries
      .filter(
        (library) =>
          readJson(join(copy, library.dir, 'package.json')).version !== patched[library.name],
      )
      .map((library) => library.name)
      .sort();
    const dependents = libraries
      .filter(
        (library) =>
          '@det/losses' in (readJson(join(root, library.dir, 'package.json')).dependencies ?? {}),
      )
      .map((library) => library.name);
    const expected = ['@det/losses', ...dependents].sort();
    if (moved.join() !== expected.join()) {
      throw new Error(
        `a minor of @det/losses moved ${moved.join(', ')}; expected ${expected.join(', ')}`,
      );
    }
    console.log(`  a minor of @det/losses moves exactly ${moved.join(', ')}`);
  });

  console.log(`registry-test: green in ${seconds(started)} s (${timings.join(', ')})`);
} finally {
  verdaccio?.kill();
  if (keep) console.log(`registry-test: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
