#!/usr/bin/env node
// Runs one package's unit and integration projects from the root Vitest config and writes
// the JSON report nx caches (`.vitest-report.json` in the package). Run from a package dir.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const pkgDir = process.cwd();
const root = resolve(import.meta.dirname, '..');
const { name } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const extra = process.argv.slice(2);
const args = [
  join(root, 'node_modules/vitest/vitest.mjs'),
  'run',
  '--root',
  root,
  '--project',
  `${name}:unit`,
  '--project',
  `${name}:int`,
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${join(pkgDir, '.vitest-report.json')}`,
  ...extra,
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
