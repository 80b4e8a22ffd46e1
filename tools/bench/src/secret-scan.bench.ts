// Secret scanning throughput: @buckley/security's scanDirectory vs secretlint with its
// recommended preset, on the same generated corpus of source-like text with planted secrets,
// in the same run. Reports MB/s, the ratio, and recall on the planted secrets for each.
// Corpus size: BENCH_SECRET_MB (default 200). The corpus lives in a temp dir, deleted after.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanDirectory } from '@buckley/security/scanner';
import { lintSource } from '@secretlint/core';
import { creator as presetRecommend } from '@secretlint/secretlint-rule-preset-recommend';
import { report } from './harness.js';

let seed = 42;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chars = (alphabet: string, n: number): string => Array.from({ length: n }, () => pick([...alphabet])).join('');
const upper = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Secret kinds both tools claim to detect; each returns the line to plant. */
const planters: (() => string)[] = [
  () => `const awsAccessKeyId = "AKIA${chars(upper, 16)}";`,
  () => `GITHUB_TOKEN=ghp_${chars(alnum, 36)}`,
  () => `slack_token: "xoxb-${chars('0123456789', 12)}-${chars('0123456789', 13)}-${chars(alnum, 24)}"`,
  () => `sendgrid = "SG.${chars(alnum, 22)}.${chars(alnum, 43)}"`,
  () => `npm_token = "npm_${chars(alnum, 36)}"`,
];
const words = ['const', 'let', 'return', 'function', 'import', 'export', 'value', 'result', 'items', 'config', 'request', 'response', 'user', 'index', 'length', 'await', 'async', 'if', 'else', 'for', 'map', 'filter', 'reduce', 'string', 'number', 'key', 'token', 'data', 'error', 'message'];
function codeLine(): string {
  const indent = '  '.repeat(Math.floor(rand() * 4));
  const n = 3 + Math.floor(rand() * 9);
  return indent + Array.from({ length: n }, () => pick(words) + (rand() < 0.2 ? `(${pick(words)})` : '')).join(' ') + (rand() < 0.5 ? ';' : ' {');
}

interface Planted {
  readonly file: string;
  readonly line: number;
}

function generate(dir: string, totalBytes: number): Planted[] {
  const planted: Planted[] = [];
  const fileBytes = 256 * 1024;
  const files = Math.ceil(totalBytes / fileBytes);
  for (let f = 0; f < files; f++) {
    const sub = join(dir, `pkg${f % 50}`);
    mkdirSync(sub, { recursive: true });
    const name = `module-${f}.ts`;
    const lines: string[] = [];
    let size = 0;
    const plantAt = new Set([Math.floor(rand() * 3000), Math.floor(rand() * 3000)]);
    while (size < fileBytes) {
      const line = plantAt.has(lines.length) ? pick(planters)() : codeLine();
      if (plantAt.has(lines.length)) planted.push({ file: `pkg${f % 50}/${name}`, line: lines.length + 1 });
      lines.push(line);
      size += line.length + 1;
    }
    writeFileSync(join(sub, name), `${lines.join('\n')}\n`);
  }
  return planted;
}

function recall(planted: readonly Planted[], found: ReadonlySet<string>): number {
  return planted.filter((p) => found.has(`${p.file}:${p.line}`)).length / planted.length;
}

export default async function main(): Promise<void> {
  const mb = Number(process.env.BENCH_SECRET_MB ?? 200);
  const dir = mkdtempSync(join(tmpdir(), 'buckley-secret-bench-'));
  try {
    const planted = generate(dir, mb * 1024 * 1024);
    const files = readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).map((f) => `${d}/${f}`));

    // The machine is shared: rather than timing one tool after the other (load changes in
    // between), the tools take turns directory by directory (50 directories of 16 files) and
    // each tool's time is summed.
    const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: presetRecommend }] };
    const oursFound = new Set<string>();
    const theirsFound = new Set<string>();
    let oursMs = 0;
    let theirsMs = 0;
    let oursFindings = 0;
    let bytes = 0;
    const ratios: number[] = [];
    // Warm-up, not timed, for both tools alike: our rule compilation (once per process, ~0.1 s)
    // and both tools' JIT on one file outside the corpus.
    const warm = mkdtempSync(join(tmpdir(), 'buckley-secret-warm-'));
    try {
      const sample = `${Array.from({ length: 2000 }, codeLine).join('\n')}\n${planters[0]!()}\n`;
      writeFileSync(join(warm, 'warm.ts'), sample);
      await scanDirectory(warm, { gitignore: false });
      await lintSource({ source: { filePath: join(warm, 'warm.ts'), content: sample, contentType: 'text' }, options: { config, maskSecrets: true } });
    } finally {
      rmSync(warm, { recursive: true, force: true });
    }
    for (const sub of readdirSync(dir).sort()) {
      let start = performance.now();
      const ours = await scanDirectory(join(dir, sub), { gitignore: false });
      oursMs += performance.now() - start;
      oursFindings += ours.findings.length;
      for (const f of ours.findings) oursFound.add(`${sub}/${f.location?.path}:${f.location?.line}`);

      const oursTurn = performance.now() - start;
      start = performance.now();
      for (const name of readdirSync(join(dir, sub))) {
        const content = await readFile(join(dir, sub, name), 'utf8');
        bytes += Buffer.byteLength(content);
        const result = await lintSource({ source: { filePath: join(dir, sub, name), content, contentType: 'text' }, options: { config, maskSecrets: true } });
        for (const m of result.messages) theirsFound.add(`${sub}/${name}:${m.loc.start.line}`);
      }
      const theirsTurn = performance.now() - start;
      theirsMs += theirsTurn;
      ratios.push(theirsTurn / oursTurn);
    }
    // Load spikes land on one tool's turn or the other's: the median of per-directory ratios
    // is the figure least moved by them (reported beside the totals).
    ratios.sort((a, b) => a - b);
    const medianRatio = ratios[Math.floor(ratios.length / 2)]!;

    const mbScanned = bytes / 1024 / 1024;
    const oursMbps = mbScanned / (oursMs / 1000);
    const theirsMbps = mbScanned / (theirsMs / 1000);
    const oursRecall = recall(planted, oursFound);
    const theirsRecall = recall(planted, theirsFound);
    report(
      'secret-scan',
      [
        { name: `scanDirectory, ${Math.round(mbScanned)} MB, ${files.length} files`, unit: 'MB/s', value: oursMbps, baseline: theirsMbps, ratio: oursMbps / theirsMbps, ratioNote: 'vs secretlint preset-recommend', target: '>= 3x', met: oursMbps / theirsMbps >= 3 },
        { name: 'median of per-directory speed ratios', unit: 'x', value: medianRatio, target: '>= 3x', met: medianRatio >= 3 },
        { name: `recall on ${planted.length} planted secrets`, unit: 'fraction', value: oursRecall, baseline: theirsRecall, target: '>= secretlint', met: oursRecall >= theirsRecall },
      ],
      { corpusMB: mbScanned, files: files.length, planted: planted.length, oursMs, secretlintMs: theirsMs, oursFindings, loadAverage: loadavg(), method: 'interleaved by directory', medianPerDirectoryRatio: medianRatio },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
