// Redaction of tool output: @buckley/security's redact() and createStreamRedactor() on realistic
// text (this repository's TypeScript sources, `git log --stat` and `ls -l` output, JSON of
// installed package manifests, structured and plain log lines), cut to 1, 4, 16 and 64 KiB at
// line ends, each without and with planted secrets (a GitHub token, a password assignment, a
// credential URL, a bearer JWT, an AWS key id). Baseline in the same run: one pass of a single
// combined case-insensitive regex of the redactor's trigger words over the same text, the floor
// of any redactor that looks at every character. Every redacted output with secrets is checked
// to hold none of them. BENCH_REDACT_MS sets the time per case and side (default 150 ms). Each
// case records wall-clock and CPU time (user + system of this process) per call: on the shared
// 2-core machine wall-clock figures follow the load of the moment, CPU time much less. The
// figure no load moves: how many characters the stream redactor scans per character written
// (4 KiB writes of 256 KiB of each corpus), counted by a real secret scanner passed to it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createStreamRedactor, redact } from '@buckley/security';
import { SecretScanner, defaultGlobalAllowlists, defaultSecretRules } from '@buckley/security/scanner';
import { type BenchRow, report, seededRandom } from './harness.js';

const repo = join(import.meta.dirname, '../../..');
const budgetMs = Number(process.env.BENCH_REDACT_MS ?? 150);
const sizes = [1, 4, 16, 64];

const rand = seededRandom(7);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

function sources(): string {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'rules') walk(p);
      else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && statSync(p).size < 64 * 1024) out.push(readFileSync(p, 'utf8'));
    }
  };
  for (const pkg of ['observability', 'sandbox', 'postgres', 'coordination']) walk(join(repo, 'packages', pkg, 'src'));
  return out.join('\n');
}

function manifests(): string {
  const dir = join(repo, 'node_modules/.pnpm');
  const docs: unknown[] = [];
  for (const name of readdirSync(dir).sort().slice(0, 200)) {
    const pkg = join(dir, name, 'node_modules', name.replace(/@[^@]+$/, '').replace('+', '/'), 'package.json');
    try {
      docs.push(JSON.parse(readFileSync(pkg, 'utf8')));
    } catch {
      // a name whose folder is spelled differently: skipped
    }
  }
  return JSON.stringify(docs, null, 2);
}

function logs(): string {
  const lines: string[] = [];
  const msgs = ['request completed', 'cache miss', 'retrying connection', 'task claimed', 'lease renewed', 'event appended', 'tool run finished'];
  for (let i = 0; i < 3000; i++) {
    const t = new Date(Date.UTC(2026, 11, 3, 7, 0, 0) + i * 137).toISOString();
    if (i % 2 === 0) {
      lines.push(
        JSON.stringify({
          level: pick([30, 30, 30, 40, 50]),
          time: t,
          pid: 4242,
          msg: pick(msgs),
          sessionId: `s_${(i * 7919).toString(36)}`,
          durationMs: Math.round(rand() * 900),
          path: `/v1/tasks/${i}`,
          status: pick([200, 200, 201, 404, 500]),
        }),
      );
    } else
      lines.push(
        `${t} ${pick(['INFO', 'INFO', 'WARN', 'DEBUG'])} [worker-${i % 4}] ${pick(msgs)} id=${i} elapsed=${(rand() * 90).toFixed(2)}ms host=10.0.${i % 8}.${i % 250}`,
      );
  }
  return lines.join('\n');
}

function shell(): string {
  const git = execFileSync('git', ['log', '--stat', '-n', '400', '--no-color'], { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ls = execFileSync('ls', ['-l', join(repo, 'node_modules/.pnpm')], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return `${ls}\n${git}`;
}

/** The first `kib` KiB of `text`, cut at a line end. */
function cut(text: string, kib: number): string {
  const end = text.lastIndexOf('\n', kib * 1024);
  return text.slice(0, end > 0 ? end : kib * 1024);
}

const secrets = [
  'ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q',
  'Xy7&kP2!qL9@w',
  'S3cr3tPgPass',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4iLCJpYXQiOjE3MzAwMDAwMDB9.c2lnbmF0dXJlLXZhbHVlLWhlcmUtMTIzNDU2',
  'AKIAZ7VRSQ5TXQ3LH4PB',
];
const planted = [
  `export GITHUB_TOKEN=${secrets[0]}`,
  `  const password = '${secrets[1]}';`,
  `DATABASE_URL=postgres://app:${secrets[2]}@db.internal:5432/app`,
  `curl -H "Authorization: Bearer ${secrets[3]}" https://api.example.com/v1/me`,
  `aws_access_key_id = ${secrets[4]}`,
];

/** `text` with the planted lines put at evenly spaced line ends. */
function plant(text: string): string {
  const lines = text.split('\n');
  planted.forEach((p, i) => lines.splice(Math.floor(((i + 0.5) * lines.length) / planted.length), 0, p));
  return lines.join('\n');
}

const triggers = /password|passwd|secret|token|auth|cookie|bearer|basic|key|cred|pwd|:\/\/|BEGIN|eyJ/gi;
function baseline(text: string): number {
  let n = 0;
  triggers.lastIndex = 0;
  while (triggers.exec(text) !== null) n++;
  return n;
}

/** The default secret scanner, counting the characters it is given. */
class CountingScanner extends SecretScanner {
  scanned = 0;
  override scanText(text: string, options?: Parameters<SecretScanner['scanText']>[1]): ReturnType<SecretScanner['scanText']> {
    this.scanned += text.length;
    return super.scanText(text, options);
  }
}

/** Characters the stream redactor scans per character of `text` written in 4 KiB chunks. */
function scannedPerChar(text: string): number {
  const scanner = new CountingScanner(defaultSecretRules, defaultGlobalAllowlists);
  const r = createStreamRedactor({ scanner });
  for (let i = 0; i < text.length; i += 4096) r.write(text.slice(i, i + 4096));
  r.end();
  return scanner.scanned / text.length;
}

function stream(text: string): string {
  const r = createStreamRedactor();
  let out = '';
  for (let i = 0; i < text.length; i += 4096) out += r.write(text.slice(i, i + 4096));
  return out + r.end();
}

/** Median per-call wall-clock and CPU time in µs over batches run for about `budgetMs`. */
function time(fn: () => unknown): { wall: number; cpu: number } {
  for (let i = 0; i < 20; i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  const until = performance.now() + budgetMs;
  while (performance.now() < until || wall.length < 5) {
    const start = performance.now();
    const used = process.cpuUsage();
    let n = 0;
    while (performance.now() - start < 5) {
      fn();
      n++;
    }
    const { user, system } = process.cpuUsage(used);
    wall.push(((performance.now() - start) * 1000) / n);
    cpu.push((user + system) / n);
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { wall: median(wall), cpu: median(cpu) };
}

export default async function main(): Promise<void> {
  const loadStart = loadavg();
  const corpora = { source: sources(), shell: shell(), json: manifests(), logs: logs() };
  const rows: BenchRow[] = [];
  const cases: Record<string, unknown>[] = [];
  for (const [kind, text] of Object.entries(corpora)) {
    rows.push({ name: `stream ${kind} 256 KiB: characters scanned per character`, unit: 'x', value: scannedPerChar(cut(text, 256)) });
    for (const kib of sizes) {
      for (const withSecrets of [false, true]) {
        const input = withSecrets ? plant(cut(text, kib)) : cut(text, kib);
        const out = redact(input, { maxStringBytes: 1 << 20 });
        const streamed = stream(input);
        if (withSecrets) {
          for (const s of secrets) if (out.includes(s) || streamed.includes(s)) throw new Error(`${kind} ${kib} KiB: a planted secret survived`);
        }
        const base = time(() => baseline(input));
        const r = time(() => redact(input, { maxStringBytes: 1 << 20 }));
        const s = time(() => stream(input));
        const label = `${kind} ${kib} KiB${withSecrets ? ' +secrets' : ''}`;
        rows.push({ name: `redact() ${label}`, unit: 'µs', value: r.wall, baseline: base.wall, ratio: r.wall / base.wall, ratioNote: 'x one regex pass' });
        rows.push({ name: `stream ${label}`, unit: 'µs', value: s.wall, baseline: base.wall, ratio: s.wall / base.wall, ratioNote: 'x one regex pass' });
        cases.push({
          kind,
          kib,
          withSecrets,
          chars: input.length,
          redactUs: r.wall,
          streamUs: s.wall,
          baselineUs: base.wall,
          redactCpuUs: r.cpu,
          streamCpuUs: s.cpu,
          baselineCpuUs: base.cpu,
          redactMBps: input.length / r.wall,
          streamMBps: input.length / s.wall,
        });
      }
    }
  }
  report('redact', rows, { cases, load: { start: loadStart, end: loadavg(), note: '1, 5 and 15 minute load averages (2 vCPUs shared)' } });
}
