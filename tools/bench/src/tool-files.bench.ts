// read_file and search_text through the tool executor (full chain, real sandbox, in-memory
// store) against `cat` and `rg` run directly, on this repository's packages/ sources.
// read_file: each of the first 60 .ts files (by path) read whole; search_text: one literal
// search over packages/ (ripgrep in the sandbox) vs `rg --json` of the same pattern.
// Iterations: BENCH_TOOL_FILES_ITERATIONS (default 5 rounds).
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { defaultConfig } from '@buckley/config';
import { createInMemoryEventStore } from '@buckley/events';
import { createRecorder } from '@buckley/observability';
import { createSandbox } from '@buckley/sandbox';
import { BUILTIN_TOOLS, createToolExecutor, createToolRegistry } from '@buckley/tools';
import { type BenchRow, latencyStats, report } from './harness.js';

const run = promisify(execFile);
const rounds = Number(process.env.BENCH_TOOL_FILES_ITERATIONS ?? 5);
const root = resolve(import.meta.dirname, '../../..');

function* tsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true }).toSorted((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

export default async function bench(): Promise<void> {
  const load: Record<string, number[]> = { start: loadavg() };
  const files = [...tsFiles(join(root, 'packages'))].slice(0, 60).map((f) => relative(root, f));
  const config = defaultConfig();
  await using store = createInMemoryEventStore();
  await using sandbox = createSandbox({ config: config.sandbox, workspace: root });
  await using recorder = createRecorder({ store });
  await using executor = createToolExecutor({ registry: createToolRegistry({ builtins: BUILTIN_TOOLS }), sandbox, recorder, config, workspace: root });
  let n = 0;
  const tool = async (name: string, args: unknown) => {
    const r = await executor.execute({ id: `call_${++n}`, name, arguments: JSON.stringify(args) }, { attribution: { sessionId: 'bench-files' } });
    if (!r.ok) throw new Error(`${name} failed: ${JSON.stringify(r).slice(0, 300)}`);
    return r.output as Record<string, unknown>;
  };
  const readTool: number[] = [];
  const readCat: number[] = [];
  const searchTool: number[] = [];
  const searchRg: number[] = [];
  const pattern = 'export function';
  let toolMatches = 0;
  let rgMatches = 0;
  for (let round = 0; round <= rounds; round++) {
    // Round 0 warms up; the two sides alternate which goes first.
    const t: number[] = [];
    const c: number[] = [];
    for (const [i, file] of files.entries()) {
      const sides = [
        async () => {
          const s = performance.now();
          await tool('read_file', { path: file });
          t.push(performance.now() - s);
        },
        async () => {
          const s = performance.now();
          await run('cat', [file], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
          c.push(performance.now() - s);
        },
      ];
      if (i % 2 === 1) sides.reverse();
      for (const side of sides) await side();
    }
    let s = performance.now();
    const found = await tool('search_text', { pattern, path: 'packages', maxResults: 10_000 });
    const searchT = performance.now() - s;
    s = performance.now();
    const raw = await run('rg', ['--json', '--fixed-strings', pattern, 'packages'], { cwd: root, maxBuffer: 256 * 1024 * 1024 });
    const searchR = performance.now() - s;
    if (round === 0) continue;
    readTool.push(...t);
    readCat.push(...c);
    searchTool.push(searchT);
    searchRg.push(searchR);
    toolMatches = (found.matches as unknown[]).length;
    rgMatches = raw.stdout.split('\n').filter((l) => l.startsWith('{"type":"match"')).length;
  }
  const rt = latencyStats(readTool);
  const rc = latencyStats(readCat);
  const st = latencyStats(searchTool);
  const sr = latencyStats(searchRg);
  const rows: BenchRow[] = [
    {
      name: `read_file (${files.length} .ts files) vs cat, per file p50`,
      unit: 'ms',
      value: rt.p50,
      baseline: rc.p50,
      ratio: rt.p50 / rc.p50,
      ratioNote: 'lower is better',
    },
    { name: 'read_file vs cat, per file p90', unit: 'ms', value: rt.p90, baseline: rc.p90, ratio: rt.p90 / rc.p90, ratioNote: 'lower is better' },
    {
      name: `search_text "${pattern}" over packages/ vs rg --json, p50`,
      unit: 'ms',
      value: st.p50,
      baseline: sr.p50,
      ratio: st.p50 / sr.p50,
      ratioNote: 'lower is better',
    },
  ];
  load.end = loadavg();
  report('tool-files', rows, { rounds, files: files.length, toolMatches, rgMatches, load, stats: { readTool: rt, readCat: rc, searchTool: st, searchRg: sr } });
}
