import { it } from 'vitest';
import { SecretScanner } from './src/secret-scanner.js';
import { defaultGlobalAllowlists, defaultSecretRules } from './src/rules/index.js';

let seed = 42;
function rand(): number { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; }
const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const words = ['const', 'let', 'return', 'function', 'import', 'export', 'value', 'result', 'items', 'config', 'request', 'response', 'user', 'index', 'length', 'await', 'async', 'if', 'else', 'for', 'map', 'filter', 'reduce', 'string', 'number', 'key', 'token', 'data', 'error', 'message'];
function codeLine(): string {
  const indent = '  '.repeat(Math.floor(rand() * 4));
  const n = 3 + Math.floor(rand() * 9);
  return indent + Array.from({ length: n }, () => pick(words) + (rand() < 0.2 ? `(${pick(words)})` : '')).join(' ') + (rand() < 0.5 ? ';' : ' {');
}
const lines: string[] = []; let size = 0;
while (size < 4 * 1024 * 1024) { const l = codeLine(); lines.push(l); size += l.length + 1; }
const text = lines.join('\n') + '\n';

function bench(name: string, rules: typeof defaultSecretRules) {
  const s = new SecretScanner(rules, defaultGlobalAllowlists);
  s.scanText(text, { path: 'a.ts' });
  let best = Infinity;
  for (let i = 0; i < 3; i++) { const t = performance.now(); s.scanText(text, { path: 'a.ts' }); best = Math.min(best, performance.now() - t); }
  console.log(name, (4 / (best / 1000)).toFixed(1), 'MB/s');
}
it('prof', () => {
  bench('all', defaultSecretRules);
  bench('no-generic', defaultSecretRules.filter((r) => r.id !== 'generic-api-key'));
  bench('generic-only', defaultSecretRules.filter((r) => r.id === 'generic-api-key'));
  bench('none(kw only)', defaultSecretRules.filter((r) => r.id === 'aws-access-token'));
}, 600000);
it('per-rule', () => {
  const res: [string, number, string][] = [];
  const base = new SecretScanner([defaultSecretRules.find((r) => r.id === 'aws-access-token')!], defaultGlobalAllowlists);
  for (const rule of defaultSecretRules) {
    if (!rule.regex) continue;
    const s = new SecretScanner([rule], defaultGlobalAllowlists);
    const t = performance.now(); s.scanText(text, { path: 'a.ts' }); const ms = performance.now() - t;
    if (ms > 5) res.push([rule.id, ms, rule.keywords.join(',')]);
  }
  res.sort((a, b) => b[1] - a[1]);
  for (const r of res.slice(0, 25)) console.log(r[0], r[1].toFixed(1), r[2].slice(0, 80));
}, 600000);
import RE2 from 're2';
it('raw', () => {
  const buf = Buffer.from(text);
  for (const id of ['generic-api-key', 'jwt', 'stripe-access-token']) {
    const rule = defaultSecretRules.find((r) => r.id === id)!;
    console.log(id, rule.regex);
    for (const [name, subject] of [['string', text], ['buffer', buf]] as const) {
      const re = new RE2(rule.regex!, 'g');
      let best = Infinity; let c = 0;
      for (let i = 0; i < 3; i++) { const t = performance.now(); re.lastIndex = 0; c = 0; for (let m = re.exec(subject as string); m; m = re.exec(subject as string)) c++; best = Math.min(best, performance.now() - t); }
      console.log(' ', name, best.toFixed(1), 'ms', c, 'matches');
    }
  }
  const gate = new RE2(String.raw`(?i)(?:access|auth|api|credential|creds|key|passw(?:or)?d|secret|token)[ \t\w.-]{0,20}[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)`, 'g');
  let t = performance.now(); let c = 0; gate.lastIndex = 0; for (let m = gate.exec(buf as unknown as string); m; m = gate.exec(buf as unknown as string)) c++;
  console.log('gate', (performance.now() - t).toFixed(1), c);
  const lower = text.toLowerCase();
  t = performance.now(); lower.toLowerCase(); console.log('lower', (performance.now() - t).toFixed(1));
  t = performance.now(); Buffer.from(text); console.log('tobuf', (performance.now() - t).toFixed(1));
  t = performance.now(); const st=[0]; for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) st.push(i + 1); console.log('starts', (performance.now() - t).toFixed(1));
}, 600000);
it('kw', () => {
  const keys = [...new Set(defaultSecretRules.flatMap((r) => r.keywords.map((k) => k.toLowerCase())))].sort((a, b) => b.length - a.length);
  const esc = (k: string) => k.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  const lower = text.toLowerCase();
  const lbuf = Buffer.from(lower);
  const run = (name: string, ks: string[], subject: string | Buffer) => {
    const kw = new RE2(ks.map(esc).join('|'), 'g');
    const t = performance.now(); let c = 0; kw.lastIndex = 0;
    for (let m = kw.exec(subject as string); m; m = kw.exec(subject as string)) c++;
    console.log(name, (performance.now() - t).toFixed(1), 'ms', c);
  };
  run('all-string', keys, lower);
  run('all-buffer', keys, lbuf);
  const common = ['ey', 'key', 'token', 'api', 'auth', 'access', 'secret', 'password', 'passwd', 'credential', 'creds'];
  run('rare-string', keys.filter((k) => !common.includes(k)), lower);
  run('rare-buffer', keys.filter((k) => !common.includes(k)), lbuf);
  const t = performance.now(); for (const k of keys) lower.indexOf(k); console.log('indexOf all', (performance.now() - t).toFixed(1), keys.length);
  const counts = new Map<string, number>();
  const kw = new RE2(keys.map(esc).join('|'), 'g');
  for (let m = kw.exec(lower); m; m = kw.exec(lower)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  console.log([...counts].sort((a, b) => b[1] - a[1]).slice(0, 15));
}, 600000);
it('small', async () => {
  const s = new SecretScanner(defaultSecretRules, defaultGlobalAllowlists);
  const small = text.slice(0, 256 * 1024);
  s.scanText(small, { path: 'a.ts' });
  let t = performance.now();
  for (let i = 0; i < 40; i++) s.scanText(small, { path: 'pkg1/module-1.ts' });
  console.log('scanText 256K x40', (10 / ((performance.now() - t) / 1000)).toFixed(1), 'MB/s');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { scanDirectory } = await import('./src/scan.js');
  const dir = mkdtempSync('/tmp/prof-');
  for (let i = 0; i < 40; i++) writeFileSync(`${dir}/m${i}.ts`, small);
  await scanDirectory(dir, { gitignore: false });
  t = performance.now();
  await scanDirectory(dir, { gitignore: false });
  console.log('scanDirectory 40 files', (10 / ((performance.now() - t) / 1000)).toFixed(1), 'MB/s');
  rmSync(dir, { recursive: true });
}, 600000);
it('parts', () => {
  const keys = [...new Set(defaultSecretRules.flatMap((r) => r.keywords.map((k) => k.toLowerCase())))].sort((a, b) => b.length - a.length);
  const esc = (k: string) => k.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  const rare = keys.filter((k) => !['key', 'token', 'ey'].includes(k));
  const buf = Buffer.from(text);
  const lbuf = Buffer.from(text.toLowerCase());
  const time = (name: string, f: () => void) => { f(); let best = Infinity; for (let i = 0; i < 5; i++) { const t = performance.now(); f(); best = Math.min(best, performance.now() - t); } console.log(name, (best / 4).toFixed(2), 'ms/MB'); };
  time('Buffer.from', () => Buffer.from(text));
  time('isUtf8', () => require('node:buffer').isUtf8(buf));
  time('toString', () => buf.toString('utf8'));
  time('TextDecoder', () => new TextDecoder().decode(buf));
  time('byteStarts', () => { const st = [0]; for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) st.push(i + 1); });
  const ci = new RE2(`(?i)(?:${rare.map(esc).join('|')})`, 'g');
  time('rare (?i) on buf', () => { ci.lastIndex = 0; while (ci.exec(buf as any)); });
  const cs = new RE2(`(?:${rare.map(esc).join('|')})`, 'g');
  time('rare cs on lower buf', () => { cs.lastIndex = 0; while (cs.exec(lbuf as any)); });
  const g = defaultSecretRules.find((r) => r.id === 'generic-api-key')!.regex!;
  const j = defaultSecretRules.find((r) => r.id === 'jwt')!.regex!;
  const u = new RE2(`(?:${g})|(?:${j})`, 'g');
  time('union generic+jwt', () => { u.lastIndex = 0; let m; while ((m = u.exec(buf as any))) {} });
  const gg = new RE2(g, 'g');
  time('generic', () => { gg.lastIndex = 0; while (gg.exec(buf as any)); });
}, 600000);
it('chunk', () => {
  const s = new SecretScanner(defaultSecretRules, defaultGlobalAllowlists);
  const small = text.slice(0, text.lastIndexOf('\n', 256 * 1024) + 1);
  const b = Buffer.from(small);
  for (let i = 0; i < 5; i++) s.scanChunk(small, { path: 'pkg1/module-1.ts', bytes: b, countLines: false });
  let best = Infinity;
  for (let r = 0; r < 5; r++) { const t = performance.now(); for (let i = 0; i < 20; i++) s.scanChunk(small, { path: 'pkg1/module-1.ts', bytes: b, countLines: false }); best = Math.min(best, (performance.now() - t) / 20 / (b.length / 1048576)); }
  console.log('scanChunk', best.toFixed(2), 'ms/MB');
  const t = performance.now(); for (let i = 0; i < 20; i++) b.toString('utf8'); console.log('toString', ((performance.now() - t) / 20 / (b.length / 1048576)).toFixed(2));
}, 600000);
it('merged', () => {
  const keys = [...new Set(defaultSecretRules.flatMap((r) => r.keywords.map((k) => k.toLowerCase())))].sort((a, b) => b.length - a.length);
  const esc = (k: string) => k.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  const rare = keys.filter((k) => !['key', 'token', 'ey'].includes(k));
  const buf = Buffer.from(text);
  const g = defaultSecretRules.find((r) => r.id === 'generic-api-key')!.regex!;
  const j = defaultSecretRules.find((r) => r.id === 'jwt')!.regex!;
  const time = (name: string, re: RE2) => { let best = Infinity; for (let i = 0; i < 5; i++) { const t = performance.now(); re.lastIndex = 0; let c = 0; while (re.exec(buf as any)) c++; best = Math.min(best, performance.now() - t); } console.log(name, (best / 4).toFixed(2), 'ms/MB'); };
  time('kw', new RE2(`(?i)(?:${rare.map(esc).join('|')})`, 'g'));
  time('union', new RE2(`(?:${g})|(?:${j})`, 'g'));
  time('merged', new RE2(`(?:${g})|(?:${j})|(?i:${rare.map(esc).join('|')})`, 'g'));
}, 600000);
