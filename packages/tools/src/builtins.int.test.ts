import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { link, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type BuckleyConfig, defaultConfig } from '@buckley/config';
import { type EventStore, type StoredEvent, createInMemoryEventStore } from '@buckley/events';
import { createRecorder } from '@buckley/observability';
import { type Sandbox, createSandbox } from '@buckley/sandbox';
import { createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Approver, BUILTIN_TOOLS, type ToolResult, createToolExecutor, createToolRegistry } from './index.js';

// Planted secrets: none may reach a result or the event store.
const GITHUB_TOKEN = `ghp_${'Z9'.repeat(18)}`;
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const base = mkdtempSync('/var/tmp/buckley-tools-test-');
const ws = join(base, 'ws');
const outside = join(base, 'outside');
const git = (...args: string[]) => execFileSync('git', ['-C', ws, ...args], { stdio: 'pipe' });

beforeAll(() => {
  mkdirSync(join(ws, 'src'), { recursive: true });
  mkdirSync(join(ws, 'ignored'));
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'outside\n');
  writeFileSync(join(ws, 'src', 'a.ts'), 'export const a = 1;\nexport const b = 2;\nexport const a2 = 1;\n');
  writeFileSync(join(ws, '.gitignore'), 'ignored/\n*.log\n');
  writeFileSync(join(ws, 'ignored', 'x.txt'), 'needle in ignored\n');
  writeFileSync(join(ws, 'debug.log'), 'needle in log\n');
  writeFileSync(join(ws, 'notes.md'), 'line one\nneedle two\nline three\n');
  writeFileSync(join(ws, 'bin.dat'), Buffer.from([1, 2, 0, 3]));
  writeFileSync(join(ws, 'creds.txt'), `GITHUB=${GITHUB_TOKEN}\naws_secret_access_key = ${AWS_SECRET}\n`);
  writeFileSync(join(ws, 'big.txt'), `${'x'.repeat(99)}\n`.repeat(5000));
  symlinkSync(join(outside, 'secret.txt'), join(ws, 'link-out'));
  git('init', '-q', '-b', 'main');
  git('-c', 'user.email=t@t', '-c', 'user.name=t', 'add', '-A');
  git('-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '-m', 'init');
  mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

/**
 * A child's loop: `dir` becomes a symlink to `decoy` and back again, by renames, until the stop
 * file exists; prints the number of swaps. A write that recreated `dir` in between is removed.
 */
const SWAPPER = `
const fs = require('node:fs');
const [dir, hold, link, decoy, stop] = process.argv.slice(1);
fs.symlinkSync(decoy, link);
let n = 0;
for (;;) {
  if (n % 50 === 0 && fs.existsSync(stop)) break;
  try {
    fs.renameSync(dir, hold);
    fs.renameSync(link, dir);
    fs.renameSync(dir, link);
  } catch {}
  try {
    fs.renameSync(hold, dir);
  } catch {
    if (fs.existsSync(hold)) { fs.rmSync(dir, { recursive: true, force: true }); fs.renameSync(hold, dir); }
  }
  n++;
}
try { if (fs.lstatSync(dir).isSymbolicLink()) fs.renameSync(dir, link); } catch {}
if (fs.existsSync(hold)) { fs.rmSync(dir, { recursive: true, force: true }); fs.renameSync(hold, dir); }
process.stdout.write(String(n));
`;

const attribution = { sessionId: 'sess-tools', agentId: 'agent-1', taskId: 'task-9', planId: 'plan-3' };

function config(overrides: { approval?: Partial<BuckleyConfig['approval']>; sandbox?: Partial<BuckleyConfig['sandbox']> } = {}) {
  const c = defaultConfig();
  return { approval: { ...c.approval, mode: 'auto' as const, ...overrides.approval }, sandbox: { ...c.sandbox, timeoutSeconds: 20, ...overrides.sandbox } };
}

/** A real sandbox, each command it is given recorded: the proof that the tool's process ran there. */
function recordingSandbox(cfg: BuckleyConfig['sandbox'], unsafe = false) {
  const real = createSandbox({ config: cfg, workspace: ws, unsafe });
  const runs: (string | readonly string[])[] = [];
  const sandbox: Sandbox = {
    run: (command, options) => (runs.push(command), real.run(command, options)),
    close: () => real.close(),
    [Symbol.asyncDispose]: () => real.close(),
  };
  return { sandbox, runs };
}

function setup(store: EventStore, options: { cfg?: ReturnType<typeof config>; approver?: Approver; unsafe?: boolean; maxResultBytes?: number } = {}) {
  const cfg = options.cfg ?? config();
  const { sandbox, runs } = recordingSandbox(cfg.sandbox, options.unsafe);
  const recorder = createRecorder({ store });
  const executor = createToolExecutor({
    registry: createToolRegistry({ builtins: BUILTIN_TOOLS }),
    sandbox,
    recorder,
    config: cfg,
    workspace: ws,
    approver: options.approver,
    unsafe: options.unsafe,
    maxResultBytes: options.maxResultBytes ?? 16 * 1024,
  });
  let n = 0;
  const call = async (name: string, args: unknown) => {
    const id = `call_${name}_${++n}_${Math.random().toString(36).slice(2, 8)}`;
    const result = await executor.execute({ id, name, arguments: JSON.stringify(args) }, { attribution });
    return { id, result };
  };
  const eventsOf = async (id: string): Promise<StoredEvent[]> =>
    (await store.read(`session:${attribution.sessionId}`)).filter((e) => (e.data as { operationId?: string }).operationId === id);
  const types = async (id: string) => (await eventsOf(id)).map((e) => e.type);
  const close = async () => {
    await executor.close();
    await recorder.close();
    await sandbox.close();
  };
  return { executor, recorder, runs, call, eventsOf, types, close };
}

type Harness = ReturnType<typeof setup>;

function expectAttributed(events: readonly StoredEvent[], id: string) {
  expect(events.length).toBeGreaterThan(0);
  for (const e of events) {
    expect((e.data as { operationId: string }).operationId).toBe(id);
    expect(e.metadata).toMatchObject(attribution);
    expect(e.metadata.toolName).toBeTypeOf('string');
  }
}

const ok = (r: ToolResult) => {
  if (!r.ok) throw new Error(`expected success, got ${JSON.stringify(r)}`);
  return r.output as Record<string, unknown>;
};

const stores: [string, () => Promise<{ store: EventStore; close: () => Promise<void> }>][] = [
  [
    'in-memory',
    async () => {
      const store = createInMemoryEventStore();
      return { store, close: () => store.close() };
    },
  ],
  [
    'postgres',
    async () => {
      const pg = await createTestPostgresEventStore('tools');
      return { store: pg.store, close: () => pg.close() };
    },
  ],
];

describe.each(stores)('built-ins through the full chain, events on %s', (_kind, open) => {
  let h: Harness;
  let storeClose: () => Promise<void>;
  let store: EventStore;
  beforeAll(async () => {
    ({ store, close: storeClose } = await open());
    h = setup(store);
  });
  afterAll(async () => {
    await h.close();
    await storeClose();
  });

  const successLifecycle = ['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.completed'];

  it('run_shell: runs in the sandbox, every event attributed and keyed by the call id', async () => {
    const before = h.runs.length;
    const { id, result } = await h.call('run_shell', { command: 'echo hi; id -u' });
    const out = ok(result);
    expect(out.stdout).toMatch(/^hi\n\d+\n$/);
    expect(out.stdout).not.toMatch(/\n0\n$/); // never real root
    expect(h.runs.slice(before)).toEqual(['echo hi; id -u']);
    expect(await h.types(id)).toEqual(successLifecycle);
    expectAttributed(await h.eventsOf(id), id);
  });

  it('run_shell: a non-zero exit is a failure the model reads, and a tool.run.failed event', async () => {
    const { id, result } = await h.call('run_shell', { command: 'echo oops >&2; exit 3' });
    expect(result).toMatchObject({ ok: false, code: 'COMMAND_FAILED', details: { exitCode: 3, stderr: 'oops\n' } });
    const events = await h.eventsOf(id);
    expect(events.map((e) => e.type)).toEqual(['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.failed']);
    expect(events[3]!.data).toMatchObject({ errorCode: 'COMMAND_FAILED', retryable: false });
  });

  it('run_shell: refused by the sandbox policy (write outside the workspace) is tool.run.denied with the rule', async () => {
    const { id, result } = await h.call('run_shell', { command: `echo x > ${join(outside, 'planted')}` });
    expect(result).toMatchObject({ ok: false, code: 'POLICY_DENIED', details: { rule: 'path_outside_workspace' } });
    const events = await h.eventsOf(id);
    expect(events.at(-1)).toMatchObject({ type: 'tool.run.denied', data: { rule: 'path_outside_workspace' } });
    expect(existsSync(join(outside, 'planted'))).toBe(false);
  });

  it('run_shell: a protected path (.git/hooks) is not written', async () => {
    await h.call('run_shell', { command: 'echo evil > .git/hooks/pre-commit' });
    expect(existsSync(join(ws, '.git', 'hooks', 'pre-commit'))).toBe(false);
  });

  it('run_shell: times out, the tree is killed, tool.run.timed_out', async () => {
    const t0 = Date.now();
    const { id, result } = await h.call('run_shell', { command: 'sleep 30 & sleep 30', timeoutSeconds: 1 });
    expect(result).toMatchObject({ ok: false, code: 'TOOL_TIMED_OUT', details: { timeoutMs: 1000 } });
    expect(Date.now() - t0).toBeLessThan(8000);
    const events = await h.eventsOf(id);
    expect(events.at(-1)).toMatchObject({ type: 'tool.run.timed_out', data: { timeoutMs: 1000 }, metadata: { outcome: 'timeout' } });
    expectAttributed(events, id);
  });

  it('run_shell: output over the cap is cut and flagged, the result stays under maxResultBytes', async () => {
    const { id, result } = await h.call('run_shell', { command: "head -c 300000 /dev/zero | tr '\\0' a" });
    expect(result.ok && result.truncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThanOrEqual(16 * 1024 + 256);
    const completed = (await h.eventsOf(id)).at(-1)!;
    expect(completed.type).toBe('tool.run.completed');
    expect(Buffer.byteLength(JSON.stringify(completed.data))).toBeLessThanOrEqual(20 * 1024);
  });

  it.each([
    ['run_shell', { command: 'cat creds.txt' }],
    ['read_file', { path: 'creds.txt' }],
    ['search_text', { pattern: 'GITHUB' }],
    ['run_js', { code: 'input.t + " and " + input.a', input: { t: GITHUB_TOKEN, a: `aws_secret_access_key=${AWS_SECRET}` } }],
  ])('%s: a secret in the output is redacted in the result and in the store', async (name, args) => {
    const { id, result } = await h.call(name, args);
    expect(result).toMatchObject({ ok: true });
    const events = await h.eventsOf(id);
    expect(events.at(-1)!.type).toBe('tool.run.completed');
    for (const text of [JSON.stringify(result), JSON.stringify(events)]) {
      expect(text).not.toContain(GITHUB_TOKEN);
      expect(text).not.toContain(AWS_SECRET);
      expect(text).not.toContain(GITHUB_TOKEN.slice(0, 16));
    }
    expect(JSON.stringify(result)).toContain('[REDACTED]');
  });

  it('read_file: a line range, no process started', async () => {
    const before = h.runs.length;
    const { id, result } = await h.call('read_file', { path: 'notes.md', startLine: 2, endLine: 3 });
    // Reading stopped at endLine: the total is unknown (null), a full read knows it.
    expect(ok(result)).toMatchObject({ content: 'needle two\nline three\n', startLine: 2, endLine: 3, totalLines: null, truncated: false });
    expect(ok((await h.call('read_file', { path: 'notes.md' })).result)).toMatchObject({ startLine: 1, endLine: 3, totalLines: 3 });
    expect(h.runs.length).toBe(before);
    expect(await h.types(id)).toEqual(successLifecycle);
  });

  it('read_file: binary files and missing files are failures the model reads', async () => {
    expect((await h.call('read_file', { path: 'bin.dat' })).result).toMatchObject({ ok: false, code: 'BINARY_FILE' });
    expect((await h.call('read_file', { path: 'nope.txt' })).result).toMatchObject({ ok: false, code: 'FILE_NOT_FOUND' });
    expect((await h.call('read_file', { path: 'notes.md', startLine: 3, endLine: 1 })).result).toMatchObject({ ok: false, code: 'INVALID_LINE_RANGE' });
  });

  it('read_file and edit_file refuse a FIFO at once (decided on the opened descriptor), nothing waits for a writer', async () => {
    const fifo = `pipe-${_kind}`;
    execFileSync('mkfifo', [join(ws, fifo)]);
    const t0 = performance.now();
    const read = await h.call('read_file', { path: fifo });
    expect(read.result).toMatchObject({ ok: false, code: 'NOT_A_FILE', details: { kind: 'special' } });
    expect((await h.call('edit_file', { path: fifo, oldText: 'a', newText: 'b' })).result).toMatchObject({ ok: false, code: 'NOT_A_FILE' });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(await h.types(read.id)).toEqual(['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.failed']);
    rmSync(join(ws, fifo));
  });

  it('read_file: a path swapped between a regular file and a FIFO while it is read never hangs', async () => {
    const dir = join(ws, `swap-${_kind}`);
    mkdirSync(dir);
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    writeFileSync(join(dir, 'regular'), 'regular\n');
    writeFileSync(join(dir, 'target'), 'regular\n');
    let swapping = true;
    let swaps = 0;
    // Hard links of the two inodes renamed over the target in turn: it is always one or the other.
    const swapper = (async () => {
      for (let i = 0; swapping; i++) {
        const from = i % 2 === 0 ? 'fifo' : 'regular';
        await link(join(dir, from), join(dir, `tmp-${i}`));
        await rename(join(dir, `tmp-${i}`), join(dir, 'target'));
        swaps++;
      }
    })();
    const outcomes = new Map<string, number>();
    const t0 = performance.now();
    try {
      for (let i = 0; i < 150; i++) {
        const { result } = await h.call('read_file', { path: `swap-${_kind}/target` });
        const key = result.ok ? `ok:${(result.output as { content: string }).content}` : result.code;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    } finally {
      swapping = false;
      await swapper;
    }
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(swaps).toBeGreaterThan(150);
    // Only the two honest answers: the file's content, or a refusal of the FIFO. Never a timeout.
    expect([...outcomes.keys()].sort()).toEqual(['NOT_A_FILE', 'ok:regular\n']);
    rmSync(dir, { recursive: true });
  });

  it('read_file, write_file and list_files: a directory on the path swapped for a symlink out of the workspace never reads, writes or lists outside', async () => {
    // Another process swaps `parent-<store>` between a real directory and a symlink to a decoy
    // outside, as fast as it can: the policy check can see the directory and the open the symlink.
    const name = `parent-${_kind}`;
    const dir = join(ws, name);
    const decoy = join(outside, `decoy-${_kind}`);
    mkdirSync(dir);
    mkdirSync(decoy);
    writeFileSync(join(dir, 'f'), 'inside\n');
    writeFileSync(join(decoy, 'f'), 'OUTSIDE\n');
    writeFileSync(join(decoy, 'decoy-only.txt'), 'OUTSIDE\n');
    const stop = join(base, `stop-${_kind}`);
    const swapper = spawn(process.execPath, ['-e', SWAPPER, dir, join(ws, `.hold-${_kind}`), join(ws, `.link-${_kind}`), decoy, stop], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let swaps = '';
    swapper.stdout.on('data', (d: Buffer) => (swaps += d.toString()));
    const exited = new Promise((resolve) => swapper.once('exit', resolve));
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    try {
      for (let i = 0; i < 200; i++) {
        const read = (await h.call('read_file', { path: `${name}/f` })).result;
        count(`read ${read.ok ? `ok:${(read.output as { content: string }).content.trim()}` : read.code}`);
        const write = (await h.call('write_file', { path: `${name}/sub/w${i % 4}.txt`, content: 'written\n' })).result;
        count(`write ${write.ok ? 'ok' : write.code}`);
        const list = (await h.call('list_files', { path: name })).result;
        count(`list ${list.ok ? ((list.output as { entries: string[] }).entries.some((e) => e.includes('decoy-only')) ? 'ok:OUTSIDE' : 'ok') : list.code}`);
      }
    } finally {
      writeFileSync(stop, '');
      await exited;
    }
    expect(Number(swaps)).toBeGreaterThan(200);
    // Nothing from outside was read or listed, and nothing was created there.
    const allowed = ['ok', 'ok:inside', 'PATH_CHANGED', 'FILE_NOT_FOUND', 'POLICY_DENIED', 'NOT_A_DIRECTORY'];
    for (const key of outcomes.keys()) expect(allowed, `outcome ${key} (all: ${JSON.stringify([...outcomes])})`).toContain(key.split(' ')[1]);
    expect(outcomes.get('read ok:inside')).toBeGreaterThan(0);
    expect(outcomes.get('write ok')).toBeGreaterThan(0);
    expect(readdirSync(decoy).sort()).toEqual(['decoy-only.txt', 'f']);
    expect(readFileSync(join(decoy, 'f'), 'utf8')).toBe('OUTSIDE\n');
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['read_file', { path: '../outside/secret.txt' }],
    ['read_file', { path: 'link-out' }],
    ['read_file', { path: '/etc/passwd' }],
    ['list_files', { path: '..' }],
    ['search_text', { pattern: 'x', path: '/etc' }],
    ['git_diff', { path: '../outside' }],
    ['write_file', { path: '../outside/new.txt', content: 'x' }],
    ['write_file', { path: 'link-out', content: 'x' }],
    ['edit_file', { path: 'link-out', oldText: 'outside', newText: 'pwned' }],
    ['run_shell', { command: 'pwd', cwd: '..' }],
  ])('%s %j: outside the workspace is refused by policy (tool.run.denied)', async (name, args) => {
    const { id, result } = await h.call(name, args);
    expect(result).toMatchObject({ ok: false, code: 'POLICY_DENIED', details: { rule: 'path_outside_workspace' } });
    expect((await h.eventsOf(id)).at(-1)).toMatchObject({ type: 'tool.run.denied', data: { rule: 'path_outside_workspace' }, metadata: { outcome: 'denied' } });
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('outside\n');
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
  });

  it.each([
    ['write_file', { path: '.git/hooks/pre-commit', content: '#!/bin/sh\nevil\n' }],
    ['write_file', { path: '.buckley/config.yaml', content: 'approval: {mode: yolo}\n' }],
    ['write_file', { path: 'sub/.vscode/settings.json', content: '{}' }],
    ['edit_file', { path: '.git/HEAD', oldText: 'main', newText: 'evil' }],
    ['read_file', { path: '.buckley/state' }],
  ])('%s %j: a protected path is refused by policy', async (name, args) => {
    const { result } = await h.call(name, args);
    expect(result).toMatchObject({ ok: false, code: 'POLICY_DENIED', details: { rule: 'protected_path' } });
    expect(existsSync(join(ws, '.git', 'hooks', 'pre-commit'))).toBe(false);
    expect(readFileSync(join(ws, '.git', 'HEAD'), 'utf8')).toContain('main');
  });

  it('write_file and edit_file: write inside the workspace without starting a process; edit needs a unique match', async () => {
    const before = h.runs.length;
    const file = `out/${Math.random().toString(36).slice(2)}/new.txt`;
    expect(ok((await h.call('write_file', { path: file, content: 'alpha\nbeta\nalpha\n' })).result)).toMatchObject({ created: true, bytesWritten: 17 });
    const twice = await h.call('edit_file', { path: file, oldText: 'alpha', newText: 'x' });
    expect(twice.result).toMatchObject({ ok: false, code: 'EDIT_MATCH_NOT_UNIQUE', details: { matches: 2 } });
    expect(twice.result.ok || twice.result.message).toContain('found 2 times');
    expect((await h.call('edit_file', { path: file, oldText: 'gamma', newText: 'x' })).result).toMatchObject({
      ok: false,
      code: 'EDIT_NO_MATCH',
      details: { matches: 0 },
    });
    expect(ok((await h.call('edit_file', { path: file, oldText: 'beta', newText: 'BETA' })).result)).toMatchObject({ replacements: 1, line: 2 });
    expect(readFileSync(join(ws, file), 'utf8')).toBe('alpha\nBETA\nalpha\n');
    expect(h.runs.length).toBe(before);
  });

  it('list_files honours .gitignore and skips .git', async () => {
    const out = ok((await h.call('list_files', {})).result);
    const entries = out.entries as string[];
    expect(entries).toContain('src/a.ts');
    expect(entries).toContain('notes.md');
    expect(entries.some((e) => e.startsWith('ignored') || e.endsWith('.log') || e.startsWith('.git/'))).toBe(false);
    const capped = ok((await h.call('list_files', { maxEntries: 2 })).result);
    expect(capped).toMatchObject({ truncated: true });
    expect(capped.entries).toHaveLength(2);
  });

  it('search_text runs ripgrep in the sandbox and honours .gitignore', async () => {
    const before = h.runs.length;
    const out = ok((await h.call('search_text', { pattern: 'needle' })).result);
    expect(out.engine).toBe('ripgrep');
    expect(out.matches).toEqual([{ path: 'notes.md', line: 2, text: 'needle two' }]);
    const runs = h.runs.slice(before);
    expect(runs).toHaveLength(1);
    expect((runs[0] as string[])[0]).toMatch(/\/rg$/);
    const regex = ok((await h.call('search_text', { pattern: 'a2? =', regex: true, path: 'src' })).result);
    expect((regex.matches as unknown[]).length).toBe(2);
  });

  it('git_status and git_diff run git in the sandbox, read-only', async () => {
    writeFileSync(join(ws, 'src', 'a.ts'), 'export const a = 42;\nexport const b = 2;\nexport const a2 = 1;\n');
    const before = h.runs.length;
    const status = ok((await h.call('git_status', {})).result);
    expect(status.branch).toMatch(/^main/);
    expect(status.entries).toContainEqual({ status: ' M', path: 'src/a.ts' });
    const diff = ok((await h.call('git_diff', { path: 'src/a.ts' })).result);
    expect(diff.diff).toContain('+export const a = 42;');
    expect(h.runs.slice(before).map((r) => (r as string[]).slice(-6).join(' '))).toEqual([
      expect.stringContaining('status --porcelain=v1'),
      expect.stringContaining('diff --no-color --no-ext-diff --no-textconv -- src/a.ts'),
    ]);
    expect((await h.call('git_diff', { ref: '--output=/tmp/x' })).result).toMatchObject({ ok: false, code: 'INVALID_ARGUMENTS' });
  });

  it('run_js evaluates in an isolate; a runaway loop times out', async () => {
    expect(ok((await h.call('run_js', { code: 'input.a * 2 + (typeof process === "undefined" ? 0 : 100)', input: { a: 21 } })).result)).toMatchObject({
      value: 42,
    });
    expect((await h.call('run_js', { code: 'require("child_process")' })).result).toMatchObject({ ok: false, code: 'JS_ERROR' });
    const { id, result } = await h.call('run_js', { code: 'while (true) {}', timeoutSeconds: 1 });
    expect(result).toMatchObject({ ok: false, code: 'TOOL_TIMED_OUT' });
    expect((await h.eventsOf(id)).at(-1)!.type).toBe('tool.run.timed_out');
  });

  it('unknown tools and invalid arguments are results and tool.run.failed events', async () => {
    const unknown = await h.call('rm_everything', {});
    expect(unknown.result).toMatchObject({ ok: false, code: 'UNKNOWN_TOOL' });
    expect(await h.types(unknown.id)).toEqual(['tool.run.requested', 'tool.run.failed']);
    // The model cannot switch the unsafe override on through arguments.
    const sneaky = await h.call('run_shell', { command: 'id', unsafe: true });
    expect(sneaky.result).toMatchObject({ ok: false, code: 'INVALID_ARGUMENTS' });
    expectAttributed(await h.eventsOf(sneaky.id), sneaky.id);
  });
});

describe('approval through the chain', () => {
  it.each([
    ['run_shell', { command: 'touch approved-marker' }, 'approved-marker'],
    ['write_file', { path: 'denied.txt', content: 'x' }, 'denied.txt'],
    ['edit_file', { path: 'notes.md', oldText: 'line one', newText: 'changed' }, null],
  ])('%s: headless in ask mode is denied (tool.run.denied, nothing ran)', async (name, args, marker) => {
    await using mem = createInMemoryEventStore();
    const h = setup(mem, { cfg: config({ approval: { mode: 'ask' } }) });
    const before = h.runs.length;
    const { id, result } = await h.call(name, args);
    expect(result).toMatchObject({ ok: false, code: 'APPROVAL_DENIED', details: { rule: 'no_approver' } });
    expect(await h.types(id)).toEqual(['tool.run.requested', 'tool.run.denied']);
    expectAttributed(await h.eventsOf(id), id);
    expect(h.runs.length).toBe(before);
    expect(marker !== null && existsSync(join(ws, marker))).toBe(false);
    expect(readFileSync(join(ws, 'notes.md'), 'utf8')).toContain('line one');
    await h.close();
  });

  it('read-class built-ins run in every mode, headless included (the table: read is always allowed)', async () => {
    await using mem = createInMemoryEventStore();
    const h = setup(mem, { cfg: config({ approval: { mode: 'ask' } }) });
    for (const [name, args] of [
      ['read_file', { path: 'notes.md' }],
      ['list_files', {}],
      ['search_text', { pattern: 'needle' }],
      ['git_status', {}],
      ['git_diff', {}],
      ['run_js', { code: '1' }],
    ] as const) {
      expect({ name, ok: (await h.call(name, args)).result.ok }).toEqual({ name, ok: true });
    }
    await h.close();
  });

  it('a person denies, allows once, allows always (remembered per session)', async () => {
    await using mem = createInMemoryEventStore();
    const asked: string[] = [];
    const answers = ['deny', 'allow_once', 'allow_always'] as const;
    const approver: Approver = async (request) => {
      asked.push(`${request.toolName}:${request.approvalClass}:${request.sessionId}`);
      return answers[asked.length - 1] ?? 'deny';
    };
    const h = setup(mem, { cfg: config({ approval: { mode: 'safe' } }), approver });
    expect((await h.call('run_shell', { command: 'echo one' })).result).toMatchObject({ ok: false, code: 'APPROVAL_DENIED', details: { rule: 'user_denied' } });
    const once = await h.call('run_shell', { command: 'echo one' });
    expect(once.result.ok).toBe(true);
    expect((await h.eventsOf(once.id)).find((e) => e.type === 'tool.run.approved')!.data).toMatchObject({ approvedBy: 'user' });
    expect((await h.call('run_shell', { command: 'echo two' })).result.ok).toBe(true);
    expect((await h.call('run_shell', { command: 'echo two' })).result.ok).toBe(true); // remembered
    expect(asked).toEqual(['run_shell:shell:sess-tools', 'run_shell:shell:sess-tools', 'run_shell:shell:sess-tools']);
    await h.close();
  });

  it('auto_approve_patterns let a plain command through and not a chained one', async () => {
    await using mem = createInMemoryEventStore();
    const h = setup(mem, { cfg: config({ approval: { mode: 'ask', autoApprovePatterns: ['echo'] } }) });
    const plain = await h.call('run_shell', { command: 'echo fine' });
    expect(plain.result.ok).toBe(true);
    expect((await h.eventsOf(plain.id)).find((e) => e.type === 'tool.run.approved')!.data).toMatchObject({ approvedBy: 'config' });
    expect((await h.call('run_shell', { command: 'echo fine && touch chained-marker' })).result).toMatchObject({ code: 'APPROVAL_DENIED' });
    expect(existsSync(join(ws, 'chained-marker'))).toBe(false);
    await h.close();
  });
});

describe.each(stores)('denials recorded on %s: nothing runs', (_kind, open) => {
  const approvers: [string, Approver | undefined, string][] = [
    ['a person denies', async () => 'deny', 'user_denied'],
    ['nobody to ask (headless)', undefined, 'no_approver'],
    [
      'the approver throws',
      async () => {
        throw new Error('terminal gone');
      },
      'approver_failed',
    ],
  ];
  it.each(approvers)('%s: tool.run.denied with its rule and outcome, no process, no file touched', async (_what, approver, rule) => {
    const { store, close } = await open();
    let asked = 0;
    const counting: Approver | undefined = approver && (async (request, signal) => (asked++, approver(request, signal)));
    const h = setup(store, { cfg: config({ approval: { mode: 'ask' } }), approver: counting });
    const marker = `denied-${_kind}-${rule}`;
    const notes = readFileSync(join(ws, 'notes.md'), 'utf8');
    const before = h.runs.length;
    const calls: [string, unknown][] = [
      ['run_shell', { command: `touch ${marker}.sh` }],
      ['write_file', { path: `${marker}.txt`, content: 'x' }],
      ['edit_file', { path: 'notes.md', oldText: 'line one', newText: 'changed' }],
    ];
    const ids: string[] = [];
    for (const [name, args] of calls) {
      const { id, result } = await h.call(name, args);
      ids.push(id);
      expect(result).toMatchObject({ ok: false, code: 'APPROVAL_DENIED', details: { rule } });
      const events = await h.eventsOf(id);
      expect(events.map((e) => e.type)).toEqual(['tool.run.requested', 'tool.run.denied']);
      expect(events[1]!.data).toMatchObject({ operationId: id, name, rule });
      expect(events[1]!.metadata).toMatchObject({ outcome: 'denied', toolName: name });
      expectAttributed(events, id);
    }
    // Side effects counted: no sandbox run, no file created, the edited file unchanged.
    expect(h.runs.length).toBe(before);
    expect(existsSync(join(ws, `${marker}.sh`))).toBe(false);
    expect(existsSync(join(ws, `${marker}.txt`))).toBe(false);
    expect(readFileSync(join(ws, 'notes.md'), 'utf8')).toBe(notes);
    expect(asked).toBe(approver === undefined ? 0 : calls.length);
    // The store holds exactly the two events of each call, nothing started.
    const all = await store.read(`session:${attribution.sessionId}`);
    expect(all.filter((e) => ids.includes(String((e.data as { operationId?: string }).operationId))).map((e) => e.type)).toEqual(
      calls.flatMap(() => ['tool.run.requested', 'tool.run.denied']),
    );
    await h.close();
    await close();
  });
});

describe('the unsafe override', () => {
  it('only the caller flag makes a run unsafe, and each unsafe run is a sandbox.unsafe_override event', async () => {
    await using mem = createInMemoryEventStore();
    const safe = setup(mem);
    const normal = await safe.call('run_shell', { command: 'echo safe' });
    expect(normal.result.ok).toBe(true);
    await safe.close();
    const h = setup(mem, { unsafe: true });
    const { result } = await h.call('run_shell', { command: 'echo unsafe' });
    expect(ok(result).stdout).toBe('unsafe\n');
    const overrides = (await mem.read(`session:${attribution.sessionId}`)).filter((e) => e.type === 'sandbox.unsafe_override');
    expect(overrides).toHaveLength(1);
    expect(overrides[0]).toMatchObject({ data: { reason: 'caller_option', command: 'echo unsafe' }, metadata: { sessionId: attribution.sessionId } });
    await h.close();
  });
});
