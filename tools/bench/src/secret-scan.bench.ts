// Secret scanning on real source: @buckley/security's scanDirectory vs secretlint 13 with its
// recommended preset, in the same run, on a corpus of real files (a fixed, sorted list of
// packages from this repository's node_modules) with planted secrets of 24 kinds. Reports
// files/s, MB/s, recall per kind and the findings outside planted lines (classified), for both.
// The corpus is copied to a temp dir (deleted after); BENCH_SECRET_ROUNDS repeats the timed
// passes (default 3).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, relative } from 'node:path';
import { scanDirectory } from '@buckley/security/scanner';
import { lintSource } from '@secretlint/core';
import { creator as presetRecommend } from '@secretlint/secretlint-rule-preset-recommend';
import { report, seededRandom } from './harness.js';

/** The corpus: these packages as installed (first version in sorted order), their text files under 256 KiB. */
const packages = [
  '@braidai/lang',
  '@changesets/cli',
  '@nats-io/jetstream',
  '@nats-io/nats-core',
  '@secretlint/core',
  'async',
  'consola',
  'exponential-backoff',
  'highlight.js',
  'kysely',
  'logform',
  'lru-cache',
  'minimatch',
  'nanoid',
  'node-gyp',
  'parse5',
  'pg-protocol',
  'postcss',
  'readable-stream',
  'rollup',
  'semver',
  'sucrase',
  'tar',
  'tsconfig-paths',
  'undici',
  'uuid',
  'winston',
  'yaml',
  'yargs',
  'zod',
];
const extensions = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts', '.json', '.md', '.yml', '.yaml', '.txt']);

const rand = seededRandom(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chars = (alphabet: string, n: number): string => Array.from({ length: n }, () => pick([...alphabet])).join('');
const digits = '0123456789';
const hex = '0123456789abcdef';
const lower = 'abcdefghijklmnopqrstuvwxyz';
const letters = `${lower}ABCDEFGHIJKLMNOPQRSTUVWXYZ`;
const alnum = `${letters}${digits}`;
const b64url = `${alnum}-_`;
/** A password of letters, digits and symbols, at least one of each. */
const password = (symbols: string, n = 14): string => `${chars(letters, 4)}${chars(digits, 2)}${chars(symbols, 2)}${chars(alnum, n - 8)}`;
const pem = (): string => {
  const body = Array.from({ length: 12 }, () => chars(`${alnum}+/`, 64));
  return `-----BEGIN RSA PRIVATE KEY-----\n${['MIIEowIBAAKCAQEA' + chars(`${alnum}+/`, 48), ...body].join('\n')}\n-----END RSA PRIVATE KEY-----`;
};

/**
 * Kinds both tools claim to detect, plus kinds only one of them has a rule for (credential
 * URLs without a database scheme and password assignments for ours, none for secretlint's
 * extra kinds here): each returns the text to plant (one line, or a block).
 */
const kinds: Record<string, () => string> = {
  'github-pat': () => `const githubToken = "ghp_${chars(alnum, 36)}";`,
  'github-fine-grained-pat': () => `GH_TOKEN=github_pat_${chars(alnum, 22)}_${chars(alnum, 59)}`,
  'gitlab-pat': () => `gitlab_token: "glpat-${chars(b64url, 20)}"`,
  'slack-bot-token': () => `slack_token = "xoxb-${chars(digits, 12)}-${chars(digits, 13)}-${chars(alnum, 24)}"`,
  'slack-webhook': () =>
    `const hook = "https://hooks.slack.com/services/T${chars(alnum.toUpperCase(), 8)}/B${chars(alnum.toUpperCase(), 10)}/${chars(alnum, 24)}";`,
  sendgrid: () => `sendgrid = "SG.${chars(alnum, 22)}.${chars(alnum, 43)}"`,
  'stripe-live-secret': () => `stripe.apiKey = "sk_live_${chars(alnum, 32)}";`,
  shopify: () => `SHOPIFY_ACCESS_TOKEN="shpat_${chars(hex, 32)}"`,
  'npm-token': () => `//registry.npmjs.org/:_authToken=npm_${chars(alnum, 36)}`,
  openai: () => `OPENAI_API_KEY=sk-proj-${chars(b64url, 74)}T3BlbkFJ${chars(b64url, 74)}`,
  anthropic: () => `const anthropicKey = 'sk-ant-api03-${chars(b64url, 93)}AA';`,
  huggingface: () => `hf_token = "hf_${chars(letters, 34)}"`,
  linear: () => `LINEAR_API_KEY=lin_api_${chars(alnum, 40)}`,
  notion: () => `notion: "ntn_${chars(digits, 11)}${chars(alnum, 35)}"`,
  databricks: () => `token = "dapi${chars(hex, 32)}"`,
  'grafana-service-account': () => `GRAFANA_TOKEN=glsa_${chars(alnum, 32)}_${chars(hex, 8)}`,
  'vault-token': () => `VAULT_TOKEN=hvs.${chars(b64url, 95)}`,
  'private-key': pem,
  'aws-secret-access-key': () => `aws_secret_access_key = ${chars(`${alnum}/+`, 40)}`,
  'https-basic-auth-url': () => `const remote = "https://${chars(lower, 6)}:${chars(alnum, 16)}@git.${chars(lower, 5)}.com/team/repo.git";`,
  'postgres-url': () => `DATABASE_URL=postgres://${chars(lower, 5)}:${password('!*-_', 14)}@db-${chars(lower, 4)}.internal:5432/app`,
  'mongodb-srv-url': () => `const uri = "mongodb+srv://${chars(lower, 6)}:${password('!*-_', 16)}@cluster0.${chars(lower, 5)}.mongodb.net/prod";`,
  'mysql-url': () => `MYSQL_URL="mysql://root:${password('!*-_', 12)}@10.0.${chars(digits, 1)}.${chars(digits, 2)}:3306/shop"`,
  'password-assignment': () => `const password = '${password('&!@#%^', 14)}';`,
};
const perKind = 17;

interface Planted {
  readonly file: string;
  readonly line: number;
  readonly kind: string;
}

/** The installed directory of `name`: node_modules/.pnpm/<name>@<version>/node_modules/<name>, first version sorted. */
function packageDir(root: string, name: string): string {
  const store = join(root, 'node_modules', '.pnpm');
  const prefix = `${name.replace('/', '+')}@`;
  const dir = readdirSync(store)
    .filter((d) => d.startsWith(prefix))
    .toSorted()[0];
  if (!dir) throw new Error(`package ${name} is not installed`);
  return join(store, dir, 'node_modules', name);
}

function textFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).toSorted((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') out.push(...textFiles(full, base));
    else if (entry.isFile() && extensions.has(extname(entry.name)) && statSync(full).size < 256 * 1024) out.push(relative(base, full));
  }
  return out;
}

/** Copies the corpus to `dir/<package>/...` and plants `perKind` secrets of every kind at random lines. */
function buildCorpus(repo: string, dir: string): { planted: Planted[]; files: string[] } {
  const files: string[] = [];
  for (const name of packages) {
    const from = packageDir(repo, name);
    const slug = name.replace('/', '__');
    for (const rel of textFiles(from)) {
      mkdirSync(dirname(join(dir, slug, rel)), { recursive: true });
      cpSync(join(from, rel), join(dir, slug, rel));
      files.push(`${slug}/${rel}`);
    }
  }
  const planted: Planted[] = [];
  const targets = new Map<string, { at: number; text: string; kind: string }[]>();
  for (const [kind, make] of Object.entries(kinds)) {
    for (let i = 0; i < perKind; i++) {
      const file = pick(files);
      const list = targets.get(file) ?? [];
      list.push({ at: rand(), text: make(), kind });
      targets.set(file, list);
    }
  }
  for (const [file, list] of targets) {
    const lines = readFileSync(join(dir, file), 'utf8').split('\n');
    // Insert from the last position back, so earlier insertions keep their line numbers right.
    const placed = list.map((p) => ({ ...p, index: Math.floor(p.at * (lines.length + 1)) })).toSorted((a, b) => b.index - a.index);
    for (const p of placed) lines.splice(p.index, 0, ...p.text.split('\n'));
    writeFileSync(join(dir, file), lines.join('\n'));
    // Line numbers after all insertions: recount from the top.
    const sorted = placed.toSorted((a, b) => a.index - b.index);
    let shift = 0;
    for (const p of sorted) {
      planted.push({ file, line: p.index + shift + 1, kind: p.kind });
      shift += p.text.split('\n').length;
    }
  }
  return { planted, files };
}

/** Why a finding off the planted lines was reported: the file's role, as far as its path tells. */
function classify(file: string): string {
  if (/(?:^|\/)(?:tests?|__tests__|spec|fixtures?|examples?|demo|benchmarks?)(?:\/|$)|\.(?:test|spec)\.[cm]?[jt]s$/i.test(file))
    return 'test, fixture or example file';
  if (/\.md$/i.test(file)) return 'documentation';
  if (/\.d\.[cm]?ts$/.test(file)) return 'type declarations';
  return 'source or data';
}

interface Tally {
  found: Set<string>;
  extra: Map<string, { count: number; classes: Map<string, number>; samples: string[] }>;
  ms: number;
}

function addExtra(t: Tally, rule: string, file: string, line: number): void {
  const e = t.extra.get(rule) ?? { count: 0, classes: new Map<string, number>(), samples: [] as string[] };
  e.count++;
  const c = classify(file);
  e.classes.set(c, (e.classes.get(c) ?? 0) + 1);
  if (e.samples.length < 5) e.samples.push(`${file}:${line}`);
  t.extra.set(rule, e);
}

export default async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_SECRET_ROUNDS ?? 3);
  const repo = realpathSync(join(import.meta.dirname, '..', '..', '..'));
  const dir = mkdtempSync(join(tmpdir(), 'buckley-secret-bench-'));
  const loadAtStart = loadavg();
  try {
    const { planted, files } = buildCorpus(repo, dir);
    // A block (the PEM key) counts as found when any of its lines is reported.
    const blockLines = new Map<string, Planted>();
    for (const p of planted) {
      const n = kinds[p.kind]!().split('\n').length;
      for (let k = 0; k < n; k++) blockLines.set(`${p.file}:${p.line + k}`, p);
    }
    const dirs = readdirSync(dir).toSorted();
    const bytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    const byDir = new Map(dirs.map((d) => [d, files.filter((f) => f.startsWith(`${d}/`))]));

    const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: presetRecommend }] };
    const ours: Tally = { found: new Set(), extra: new Map(), ms: 0 };
    const theirs: Tally = { found: new Set(), extra: new Map(), ms: 0 };
    const record = (t: Tally, file: string, line: number, rule: string): void => {
      const p = blockLines.get(`${file}:${line}`);
      if (p) t.found.add(`${p.file}:${p.line}`);
      else addExtra(t, rule, file, line);
    };
    const runOurs = async (sub: string, keep: boolean): Promise<void> => {
      const result = await scanDirectory(join(dir, sub), { gitignore: false });
      if (keep) for (const f of result.findings) record(ours, `${sub}/${f.location!.path}`, f.location!.line ?? 0, f.ruleId);
    };
    const runTheirs = async (sub: string, keep: boolean): Promise<void> => {
      for (const file of byDir.get(sub)!) {
        const content = await readFile(join(dir, file), 'utf8');
        const result = await lintSource({ source: { filePath: join(dir, file), content, contentType: 'text' }, options: { config, maskSecrets: true } });
        if (keep) for (const m of result.messages) record(theirs, file, m.loc.start.line, m.ruleId);
      }
    };
    // Untimed warm-up over the whole corpus for both: page cache, rule compilation, JIT.
    for (const sub of dirs) {
      await runOurs(sub, true);
      await runTheirs(sub, true);
    }
    // Timed rounds: the tools take turns package by package (the machine is shared, load
    // changes), the one going first alternating, and each tool's time is summed.
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const [i, sub] of dirs.entries()) {
        const order = (i + round) % 2 === 0 ? ['ours', 'theirs'] : ['theirs', 'ours'];
        const turn: Record<string, number> = {};
        for (const who of order) {
          const start = performance.now();
          await (who === 'ours' ? runOurs(sub, false) : runTheirs(sub, false));
          turn[who] = performance.now() - start;
        }
        ours.ms += turn.ours!;
        theirs.ms += turn.theirs!;
        ratios.push(turn.theirs! / turn.ours!);
      }
    }
    ratios.sort((a, b) => a - b);
    const median = ratios[Math.floor(ratios.length / 2)]!;
    const mb = (bytes * rounds) / 1024 / 1024;
    const filesPerS = (t: Tally) => (files.length * rounds) / (t.ms / 1000);
    const mbPerS = (t: Tally) => mb / (t.ms / 1000);

    const recallRows = Object.keys(kinds).map((kind) => {
      const of = planted.filter((p) => p.kind === kind);
      const r = (t: Tally) => of.filter((p) => t.found.has(`${p.file}:${p.line}`)).length / of.length;
      return { kind, ours: r(ours), theirs: r(theirs) };
    });
    const extraOf = (t: Tally) =>
      Object.fromEntries(
        [...t.extra]
          .sort((a, b) => b[1].count - a[1].count)
          .map(([rule, e]) => [rule, { count: e.count, classes: Object.fromEntries(e.classes), samples: e.samples }]),
      );
    const allRecall = (t: Tally) => planted.filter((p) => t.found.has(`${p.file}:${p.line}`)).length / planted.length;
    const weaker = recallRows.filter((r) => r.ours < r.theirs).map((r) => r.kind);

    console.log('\nrecall per kind (ours / secretlint):');
    for (const r of recallRows) console.log(`  ${r.kind.padEnd(26)} ${r.ours.toFixed(2)} / ${r.theirs.toFixed(2)}`);
    const countExtra = (t: Tally) => [...t.extra.values()].reduce((n, e) => n + e.count, 0);
    console.log(`\nfindings off the planted lines: ours ${countExtra(ours)}, secretlint ${countExtra(theirs)}`);
    for (const [who, t] of [
      ['ours', ours],
      ['secretlint', theirs],
    ] as const) {
      for (const [rule, e] of [...t.extra].sort((a, b) => b[1].count - a[1].count).slice(0, 12))
        console.log(`  ${who.padEnd(10)} ${rule.padEnd(48)} ${e.count}  ${JSON.stringify(Object.fromEntries(e.classes))}`);
    }
    report(
      'secret-scan',
      [
        {
          name: `scanDirectory, ${files.length} real files (${(bytes / 1024 / 1024).toFixed(1)} MB) x ${rounds}`,
          unit: 'files/s',
          value: filesPerS(ours),
          baseline: filesPerS(theirs),
          ratio: filesPerS(ours) / filesPerS(theirs),
          ratioNote: 'vs secretlint preset-recommend',
          target: '>= 3x',
          met: filesPerS(ours) / filesPerS(theirs) >= 3,
        },
        { name: 'scanDirectory throughput', unit: 'MB/s', value: mbPerS(ours), baseline: mbPerS(theirs), ratio: mbPerS(ours) / mbPerS(theirs) },
        { name: 'median of per-package speed ratios', unit: 'x', value: median, target: '>= 3x', met: median >= 3 },
        {
          name: `recall on ${planted.length} planted secrets of ${recallRows.length} kinds`,
          unit: 'fraction',
          value: allRecall(ours),
          baseline: allRecall(theirs),
          target: '>= secretlint on every kind',
          met: weaker.length === 0,
        },
        { name: 'findings off the planted lines', unit: 'count', value: countExtra(ours), baseline: countExtra(theirs) },
      ],
      {
        corpus: { packages, files: files.length, bytes, meanFileBytes: Math.round(bytes / files.length) },
        planted: planted.length,
        rounds,
        oursMs: ours.ms,
        secretlintMs: theirs.ms,
        medianPerPackageRatio: median,
        recallPerKind: recallRows,
        kindsWhereOursIsWeaker: weaker,
        extraFindings: { ours: extraOf(ours), secretlint: extraOf(theirs) },
        loadAverageAtStart: loadAtStart,
        loadAverage: loadavg(),
        method: 'real package sources with planted secrets; tools take turns per package, first turn alternating; untimed warm-up pass',
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
