#!/usr/bin/env node
// The artifact tier: tests what `npm publish` would ship, not the TypeScript sources.
//
//   1. `pnpm pack` every publishable package (its `dist` must be built: `pnpm check` builds it);
//   2. `npm install` the tarballs into an empty temporary project (the @buckley/* packages come
//      only from the tarballs; third-party dependencies from the registry or npm's cache);
//   3. run Vitest there on tools/artifacts/*.test.ts: import every export of every entry point,
//      check that classes are one object across entry points and packages (an error thrown by an
//      `./adapter` function is `instanceof` the class of the main entry), and run the conformance
//      suites of @buckley/testing against the built in-memory and PGlite adapters.
//
// Usage: node tools/test-artifacts.mjs [--keep] [--json <report.json>]
// Prints the Vitest summary; exits non-zero when anything fails.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const jsonAt = args.indexOf('--json');
const jsonReport = jsonAt >= 0 ? resolve(args[jsonAt + 1]) : undefined;

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

function run(command, commandArgs, options = {}) {
  const result = spawnSync(command, commandArgs, {
    encoding: 'utf8',
    stdio: options.stdio ?? 'pipe',
    cwd: options.cwd ?? root,
    env: options.env ?? process.env,
  });
  if (result.status !== 0 && !options.allowFailure) {
    process.stderr.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    throw new Error(`test-artifacts: ${command} ${commandArgs.join(' ')} exited with ${result.status ?? result.signal}`);
  }
  return result;
}

const packagesDir = join(root, 'packages');
const workspace = readdirSync(packagesDir, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(packagesDir, e.name, 'package.json')))
  .map((e) => ({ dir: join(packagesDir, e.name), pkg: readJson(join(packagesDir, e.name, 'package.json')) }));
const publishable = workspace.filter(({ pkg }) => !pkg.private);
const testing = workspace.find(({ pkg }) => pkg.name === '@buckley/testing');

for (const { dir, pkg } of publishable) {
  if (!existsSync(join(dir, 'dist'))) throw new Error(`test-artifacts: ${pkg.name} has no dist; run \`pnpm check\` (or \`pnpm build\`) first`);
}

const work = mkdtempSync(join(tmpdir(), 'buckley-artifacts-'));
try {
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  const files = {};
  for (const { dir, pkg } of publishable) {
    const out = run('pnpm', ['pack', '--pack-destination', tarballs, '--json'], { cwd: dir }).stdout;
    const { filename } = JSON.parse(out.slice(out.indexOf('{')));
    files[pkg.name] = `file:${filename}`;
  }

  // The test project: the tarballs, the peers the tests load, and the test runner.
  const project = join(work, 'project');
  mkdirSync(project);
  const rootPkg = readJson(join(root, 'package.json'));
  const postgres = publishable.find(({ pkg }) => pkg.name === '@buckley/postgres').pkg;
  const testingDeps = Object.fromEntries(Object.entries(testing.pkg.dependencies ?? {}).filter(([name]) => !name.startsWith('@buckley/')));
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify(
      {
        name: 'buckley-artifact-test',
        private: true,
        type: 'module',
        dependencies: {
          ...files,
          ...testingDeps,
          '@electric-sql/pglite': postgres.peerDependencies['@electric-sql/pglite'],
          vitest: rootPkg.devDependencies.vitest,
        },
        // Every @buckley/* dependency of a tarball resolves to a tarball, never to the registry.
        overrides: Object.fromEntries(Object.keys(files).map((name) => [name, `$${name}`])),
      },
      null,
      2,
    )}\n`,
  );
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project });
  copyNativeBuilds(project);

  // The conformance suites are test code, not an artifact: copied beside the tests so their
  // `@buckley/*` imports resolve to the installed tarballs like the tests' own.
  cpSync(join(testing.dir, 'src'), join(project, 'suites'), { recursive: true, filter: (p) => !p.endsWith('.test.ts') });
  cpSync(join(root, 'tools/artifacts'), join(project, 'test'), { recursive: true });
  writeFileSync(
    join(project, 'vitest.config.ts'),
    "import { defineConfig } from 'vitest/config';\nexport default defineConfig({ test: { include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000, fileParallelism: false, allowOnly: false } });\n",
  );
  writeFileSync(join(project, 'packages.json'), `${JSON.stringify(publishable.map(({ pkg }) => pkg.name))}\n`);

  const vitestArgs = [join(project, 'node_modules/vitest/vitest.mjs'), 'run', '--root', project, '--reporter=default'];
  if (jsonReport) vitestArgs.push('--reporter=json', `--outputFile.json=${jsonReport}`);
  const { CI: _ci, ...env } = process.env;
  const result = spawnSync(process.execPath, vitestArgs, { stdio: 'inherit', cwd: project, env: { ...env, NODE_OPTIONS: '' } });
  process.exitCode = result.status ?? 1;
} finally {
  if (keep) console.log(`test-artifacts: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}

/**
 * npm ran no install scripts, so native addons have no binary. The workspace's install built
 * each one for this Node already; the same name and version gets that build.
 */
function copyNativeBuilds(project) {
  const store = join(root, 'node_modules/.pnpm');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const pkgDir = join(dir, entry.name);
      if (entry.name.startsWith('@')) {
        walk(pkgDir);
        continue;
      }
      const manifest = join(pkgDir, 'package.json');
      if (existsSync(join(pkgDir, 'binding.gyp')) && existsSync(manifest) && !existsSync(join(pkgDir, 'build'))) {
        const { name, version } = readJson(manifest);
        const built = join(store, `${name.replace('/', '+')}@${version}`, 'node_modules', name, 'build');
        if (existsSync(built)) cpSync(built, join(pkgDir, 'build'), { recursive: true });
      }
      if (existsSync(join(pkgDir, 'node_modules'))) walk(join(pkgDir, 'node_modules'));
    }
  };
  walk(join(project, 'node_modules'));
}
