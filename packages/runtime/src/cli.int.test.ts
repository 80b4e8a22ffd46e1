import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StoredEvent } from '@buckley/events';
import { type FakeModelRequest, type FakeResponse, startFakeModelServer } from '@buckley/testing';
import { afterAll, describe, expect, it } from 'vitest';

// The binary from source, as its own process: Node runs it with tsx's loader.
const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
const bin = join(import.meta.dirname, 'bin.ts');
const dirs: string[] = [];

function tempDir(prefix: string): string {
  // Under /var/tmp, not /tmp: the sandbox mounts its own /tmp.
  const dir = mkdtempSync(`/var/tmp/${prefix}`);
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function buckley(args: readonly string[], cwd: string, env: Record<string, string>): Promise<Ran> {
  const child = spawn(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, bin, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as StoredEvent);

describe('the buckley binary on embedded defaults (real processes, PGlite, bubblewrap, the fake model over HTTP)', () => {
  it('runs a task: streams text and tool calls, keeps the events in .buckley/data, events --json returns them, doctor passes', async () => {
    const script = (request: FakeModelRequest): FakeResponse => {
      const answered = (request.body?.messages ?? []).some((m) => m.role === 'tool');
      if (!answered) return { toolCalls: [{ id: 'read-1', name: 'read_file', arguments: JSON.stringify({ path: 'notes.txt' }) }] };
      // An escape sequence in the model's text must not reach the terminal.
      return { text: 'The notes say hello.\x1b]52;c;cm0gLXJmIH4=\x07 Done.' };
    };
    await using server = await startFakeModelServer({ script });
    const ws = tempDir('buckley-run-');
    const home = tempDir('buckley-home-');
    writeFileSync(join(ws, 'notes.txt'), 'hello from the notes\n');
    const env = { HOME: home, BUCKLEY_MODEL_BASE_URL: server.url, BUCKLEY_MODEL: 'fake-1', OPENAI_API_KEY: 'sk-test-not-a-real-key' };

    const run = await buckley(['run', 'read notes.txt and tell me what it says'], ws, env);
    expect(run.stderr).not.toContain('buckley:');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('tool read_file success');
    expect(run.stdout).toContain('The notes say hello. Done.');
    expect(run.stdout).not.toContain('\x1b');
    expect(existsSync(join(ws, '.buckley/data'))).toBe(true);
    // The tool read the file: its content went to the model.
    const toolMessage = server.requests.at(-1)?.body?.messages?.find((m) => m.role === 'tool');
    expect(JSON.stringify(toolMessage)).toContain('hello from the notes');

    const listed = await buckley(['events', '--json'], ws, env);
    expect(listed.code).toBe(0);
    const events = jsonLines(listed.stdout);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('session.started');
    for (const type of ['session.message_added', 'tool.run.requested', 'tool.run.started', 'tool.run.completed', 'model.call.completed'])
      expect(types).toContain(type);
    const sessionId = events[0]!.metadata.sessionId!;
    const completed = events.find((e) => e.type === 'tool.run.completed')!;
    expect(completed.metadata).toMatchObject({ sessionId, toolName: 'read_file', outcome: 'success' });
    expect(run.stderr).toContain(`session ${sessionId}`);

    const filtered = jsonLines((await buckley(['events', '--json', '--session', sessionId, '--type', 'tool.run.'], ws, env)).stdout);
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every((e) => e.type.startsWith('tool.run.') && e.metadata.sessionId === sessionId)).toBe(true);

    const doctor = await buckley(['doctor', '--json'], ws, env);
    const report = JSON.parse(doctor.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean }>;
      config: { values: Array<{ path: string; origin: unknown }> };
    };
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(doctor.code).toBe(0);
    expect(report.config.values.find((v) => v.path === 'model.id')?.origin).toEqual({ layer: 'env', env: 'BUCKLEY_MODEL' });
    // Several cold child processes (tsx, PGlite, bubblewrap) in a row: about 10 s each on a loaded 2-core machine.
  }, 240_000);

  it('run --json prints the session events in the store schema, one per line', async () => {
    await using server = await startFakeModelServer({ script: [{ text: 'nothing to do' }] });
    const ws = tempDir('buckley-json-');
    const env = { HOME: tempDir('buckley-home-'), BUCKLEY_MODEL_BASE_URL: server.url, BUCKLEY_MODEL: 'fake-1', OPENAI_API_KEY: 'sk-test' };
    const run = await buckley(['run', '--json', 'say nothing'], ws, env);
    expect(run.code).toBe(0);
    const events = jsonLines(run.stdout);
    expect(events[0]).toMatchObject({ type: 'session.started', version: 1 });
    for (const e of events) expect(Object.keys(e)).toEqual(expect.arrayContaining(['id', 'streamId', 'version', 'position', 'type', 'data', 'metadata']));
    // Several cold child processes (tsx, PGlite, bubblewrap) in a row: about 10 s each on a loaded 2-core machine.
  }, 240_000);

  it('a run that does not end its turn exits non-zero', async () => {
    await using server = await startFakeModelServer({ script: () => ({ type: 'error', status: 500 }) });
    const ws = tempDir('buckley-fail-');
    const env = {
      HOME: tempDir('buckley-home-'),
      BUCKLEY_MODEL_BASE_URL: server.url,
      BUCKLEY_MODEL: 'fake-1',
      OPENAI_API_KEY: 'sk-test',
      BUCKLEY_MODEL__MAX_RETRIES: '0',
    };
    const run = await buckley(['run', 'anything'], ws, env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/the run stopped \(error\)/);
    // Several cold child processes (tsx, PGlite, bubblewrap) in a row: about 10 s each on a loaded 2-core machine.
  }, 240_000);
});

describe('the buckley binary on bad input', () => {
  const ws = tempDir('buckley-bad-');
  const env = { HOME: tempDir('buckley-home-') };

  it('an unknown command: one line with the closest command, exit 2', async () => {
    const ran = await buckley(['rnu', 'x'], ws, env);
    expect(ran.code).toBe(2);
    expect(ran.stderr.trim().split('\n')).toEqual(['buckley: CLI_USAGE: unknown command "rnu"; did you mean "buckley run"?']);
  });

  it('an unknown flag: the closest flag, exit 2', async () => {
    const ran = await buckley(['events', '--jsn'], ws, env);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain('did you mean --json?');
  });

  it('a malformed config: the config error on one line, no stack trace, exit 3; --verbose adds the stack', async () => {
    const project = tempDir('buckley-badcfg-');
    mkdirSync(join(project, '.buckley'));
    writeFileSync(join(project, '.buckley/config.yaml'), 'sandbox:\n  timeout_seconds: [1\n');
    const ran = await buckley(['doctor'], project, env);
    expect(ran.code).toBe(3);
    const lines = ran.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^buckley: CONFIG_PARSE: .*config\.yaml/);
    const verbose = await buckley(['doctor', '--verbose'], project, env);
    expect(verbose.code).toBe(3);
    expect(verbose.stderr).toContain('    at ');
  });

  it('run without a model configured says how to configure one', async () => {
    const ran = await buckley(['run', 'x'], ws, env);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/^buckley: MODEL_NOT_CONFIGURED: .*BUCKLEY_MODEL/);
  });
});
