#!/usr/bin/env node
// Runs every package's tests through nx (cached per package), then the artifact tier
// (tools/test-artifacts.mjs: the packed tarballs installed in an empty project), then reads
// each Vitest JSON report and prints the totals as the last line:
//   tests: N passed, M failed, K skipped
// Exits non-zero when any test failed, any package's run failed, or a report is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pkgRoot = join(root, 'packages');
const dirs = readdirSync(pkgRoot, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(pkgRoot, e.name, 'package.json')))
  .map((e) => join(pkgRoot, e.name));

// A stale report must never stand in for a run that did not happen; nx restores it from cache.
for (const dir of dirs) rmSync(join(dir, '.vitest-report.json'), { force: true });

const nxBin = join(root, 'node_modules/nx', JSON.parse(readFileSync(join(root, 'node_modules/nx/package.json'), 'utf8')).bin.nx);
const nx = spawnSync(process.execPath, [nxBin, 'run-many', '-t', 'test', '--outputStyle=stream', ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });

// The artifact tier tests `dist` as published; `pnpm test` has just built it (`pnpm check`).
const artifactsReport = join(root, 'node_modules/.cache/buckley-artifacts-report.json');
rmSync(artifactsReport, { force: true });
// A run narrowed to some packages (`--projects ...`) leaves the artifact tier out.
const narrowed = process.argv.slice(2).some((arg) => arg.startsWith('--projects') || arg === '-p');
const artifacts = narrowed
  ? { status: 0 }
  : spawnSync(process.execPath, [join(root, 'tools/test-artifacts.mjs'), '--json', artifactsReport], { stdio: 'inherit', cwd: root });

let passed = 0;
let failed = 0;
let skipped = 0;
const problems = [];
const reports = dirs.map((dir) => ({ dir, report: join(dir, '.vitest-report.json') }));
if (!narrowed) reports.push({ dir: 'artifact tier', report: artifactsReport });
for (const { dir, report } of reports) {
  if (!existsSync(report)) {
    problems.push(`${dir}: no test report (the test run did not finish)`);
    continue;
  }
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed += json.numPassedTests ?? 0;
  failed += json.numFailedTests ?? 0;
  skipped += (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0);
  // A suite that failed to load (syntax error, failing hook) counts tests as neither.
  for (const suite of json.testResults ?? []) {
    if (suite.status === 'failed' && (suite.assertionResults ?? []).every((a) => a.status !== 'failed')) {
      problems.push(`${suite.name}: ${String(suite.message ?? 'suite failed').split('\n')[0]}`);
      failed += 1;
    }
  }
}
for (const p of problems) console.error(`run-tests: ${p}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(nx.status === 0 && artifacts.status === 0 && failed === 0 && problems.length === 0 ? 0 : 1);
