import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '@buckley/config';
import { createInMemoryEventStore } from '@buckley/events';
import { createRecorder } from '@buckley/observability';
import { createSandbox } from '@buckley/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_TOOLS, type McpConnection, connectMcpHttpServer, createToolExecutor, createToolRegistry, isToolsError } from './index.js';

const TOKEN = `ghp_${'Q7'.repeat(18)}`;
// Planted in the hostile fixture's listing.
const STRIPE = `sk_live_${'4eC39HqLyjWD'.repeat(2)}`;
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';

async function startServer(env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'mcp-http-server.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`fixture exited ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${port}/mcp` };
}

describe('MCP tools over HTTP through the chain', () => {
  const workspace = mkdtempSync('/var/tmp/tools-mcp-');
  const store = createInMemoryEventStore();
  const recorder = createRecorder({ store });
  const config = { ...defaultConfig(), approval: { ...defaultConfig().approval, mode: 'safe' as const } };
  const sandbox = createSandbox({ config: config.sandbox, workspace });
  let server: { child: ChildProcess; url: string };
  let mcp: McpConnection;
  const registry = createToolRegistry({ builtins: BUILTIN_TOOLS });
  const executor = createToolExecutor({ registry, sandbox, recorder, config, workspace, maxResultBytes: 8 * 1024 });
  let n = 0;
  const call = (name: string, args: unknown) => {
    const id = `call_mcp_${++n}`;
    return executor.execute({ id, name, arguments: JSON.stringify(args) }, { attribution: { sessionId: 'mcp' } }).then((result) => ({ id, result }));
  };

  beforeAll(async () => {
    server = await startServer();
    mcp = await connectMcpHttpServer({ name: 'fixture', url: server.url });
    for (const tool of mcp.tools) registry.register(tool);
  });
  afterAll(async () => {
    await mcp.close();
    server.child.kill('SIGKILL');
    await executor.close();
    await recorder.close();
    await sandbox.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('lists the server tools under mcp__<server>__<tool>, with their JSON Schema', () => {
    expect(mcp.tools.map((t) => t.name).sort()).toEqual(['big', 'crash', 'echo', 'fail', 'hangup', 'huge', 'leak', 'slow'].map((t) => `mcp__fixture__${t}`));
    const echo = registry.specs().find((s) => s.name === 'mcp__fixture__echo')!;
    expect(echo.parameters).toMatchObject({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
  });

  it('calls a tool through the chain: validated, approved, recorded', async () => {
    const { id, result } = await call('mcp__fixture__echo', { text: 'hello' });
    expect(result).toEqual({ ok: true, output: { text: 'hello' } });
    const types = (await store.read('session:mcp')).filter((e) => (e.data as { operationId?: string }).operationId === id).map((e) => e.type);
    expect(types).toEqual(['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.completed']);
    expect((await call('mcp__fixture__echo', { text: 1 })).result).toMatchObject({ ok: false, code: 'INVALID_ARGUMENTS' });
  });

  it('a tool error, a secret (redacted in the result and the store) and output over the cap', async () => {
    expect((await call('mcp__fixture__fail', {})).result).toMatchObject({ ok: false, code: 'MCP_TOOL_ERROR', message: 'it broke' });
    const leak = await call('mcp__fixture__leak', {});
    expect(JSON.stringify(leak.result)).not.toContain(TOKEN.slice(0, 12));
    expect(JSON.stringify(await store.read('session:mcp'))).not.toContain(TOKEN.slice(0, 12));
    const big = await call('mcp__fixture__big', {});
    expect(big.result).toMatchObject({ ok: true, truncated: true });
    expect(Buffer.byteLength(JSON.stringify(big.result))).toBeLessThanOrEqual(8 * 1024);
  });

  it('a 40 MB answer arrives in bounded time: following its event stream is linear', async () => {
    // Rescanning a long line at every chunk (quadratic) took about 28 s here; linear, about 2 s.
    const t0 = performance.now();
    const { result } = await call('mcp__fixture__huge', { bytes: 40_000_000 });
    expect(performance.now() - t0).toBeLessThan(12_000);
    expect(result).toMatchObject({ ok: true, truncated: true });
    expect(JSON.stringify(result)).toMatch(/^\{"ok":true,"output":\{"text":"y{1000}/);
  }, 60_000);

  it('a slow call times out at the configured deadline', async () => {
    const cfg = { ...config, sandbox: { ...config.sandbox, timeoutSeconds: 1 } };
    await using timed = createToolExecutor({ registry, sandbox, recorder, config: cfg, workspace, stopGraceMs: 500 });
    const result = await timed.execute({ id: 'call_mcp_slow', name: 'mcp__fixture__slow', arguments: '{"ms":5000}' }, { attribution: { sessionId: 'mcp' } });
    expect(result).toMatchObject({ ok: false, code: 'TOOL_TIMED_OUT' });
  });

  it('a server killed mid-call is a failure naming it; the session keeps working; a dead server cannot be connected', async () => {
    const { result } = await call('mcp__fixture__crash', {});
    expect(result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE', details: { server: 'fixture' } });
    expect((await call('mcp__fixture__echo', { text: 'x' })).result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE' });
    expect((await call('read_file', { path: 'nope' })).result).toMatchObject({ ok: false, code: 'FILE_NOT_FOUND' });
    const error = await connectMcpHttpServer({ name: 'gone', url: server.url, connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(isToolsError(error, 'MCP_SERVER_FAILED')).toBe(true);
    expect((error as Error).message).toContain('"gone"');
  });
});

describe('a server that goes away in the middle of a call', () => {
  const workspace = mkdtempSync('/var/tmp/tools-mcp-gone-');
  const config = defaultConfig(); // a 120 s deadline: a prompt failure is not the deadline's
  const sandbox = createSandbox({ config: config.sandbox, workspace });
  const recorder = createRecorder({ store: createInMemoryEventStore() });
  afterAll(async () => {
    await recorder.close();
    await sandbox.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  async function connected(name: string) {
    const server = await startServer();
    const mcp = await connectMcpHttpServer({ name, url: server.url });
    const executor = createToolExecutor({ registry: createToolRegistry({ builtins: mcp.tools }), sandbox, recorder, config, workspace });
    let n = 0;
    const call = async (tool: string, args: unknown) => {
      const t0 = performance.now();
      const result = await executor.execute({ id: `call_${name}_${++n}`, name: `mcp__${name}__${tool}`, arguments: JSON.stringify(args) });
      return { result, ms: performance.now() - t0 };
    };
    /** Resolves once the slow tool is running in the server. */
    const slowStarted = () => new Promise<void>((resolve) => server.child.stdout!.on('data', (d: Buffer) => String(d).includes('slow') && resolve()));
    const dispose = async () => {
      server.child.kill('SIGKILL');
      await mcp.close();
      await executor.close();
    };
    return { server, mcp, call, slowStarted, [Symbol.asyncDispose]: dispose };
  }

  it('kill -9 of the server during a call fails that call at once with MCP_SERVER_UNAVAILABLE; later calls fail fast', async () => {
    await using h = await connected('victim');
    const started = h.slowStarted();
    const pending = h.call('slow', { ms: 60_000 });
    await started;

    const t0 = performance.now();
    h.server.child.kill('SIGKILL');
    const { result } = await pending;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE', details: { server: 'victim' } });
    expect(!result.ok && result.message).toMatch(/^MCP server "victim" failed the call to slow: /);
    const later = await h.call('echo', { text: 'x' });
    expect(later.result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE' });
    expect(later.ms).toBeLessThan(2000);
  }, 20_000);

  it('closing the connection during a call fails it at once; calls after close fail fast', async () => {
    await using h = await connected('closed');
    const started = h.slowStarted();
    const pending = h.call('slow', { ms: 60_000 });
    await started;
    const t0 = performance.now();
    await h.mcp.close();
    expect((await pending).result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE' });
    expect(performance.now() - t0).toBeLessThan(2000);
    const later = await h.call('echo', { text: 'x' });
    expect(later.result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE' });
    expect(later.ms).toBeLessThan(2000);
  }, 20_000);

  it('a stream that ends without the answer fails the call; one the client may resume fails when resuming is refused', async () => {
    await using h = await connected('hangup');
    const ended = await h.call('hangup', { resumable: false });
    expect(ended.result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE', details: { server: 'hangup' } });
    expect(ended.ms).toBeLessThan(2000);
    // The SDK resumes after its reconnection delay (1 s); the server answers 405 (no resumable streams).
    const resumed = await h.call('hangup', { resumable: true });
    expect(resumed.result).toMatchObject({ ok: false, code: 'MCP_SERVER_UNAVAILABLE' });
    expect(resumed.ms).toBeLessThan(5000);
    expect((await h.call('echo', { text: 'still here' })).result).toEqual({ ok: true, output: { text: 'still here' } });
  }, 30_000);
});

describe("a server's listing reaches the model redacted; a tool Buckley cannot take is skipped and reported", () => {
  it('secrets in descriptions, titles and schema texts are redacted; bad schemas and secret-shaped names are skipped, coded, the rest connects', async () => {
    const server = await startServer({ MCP_FIXTURE_HOSTILE: '1' });
    try {
      await using mcp = await connectMcpHttpServer({ name: 'hostile', url: server.url });
      const registry = createToolRegistry();
      for (const tool of mcp.tools) registry.register(tool);
      const specs = registry.specs();
      for (const secret of [STRIPE, AWS_KEY, TOKEN]) expect(JSON.stringify(specs)).not.toContain(secret.slice(0, 12));
      expect(specs.map((s) => s.name)).toEqual(['mcp__hostile__keyed', 'mcp__hostile__plain']);
      const keyed = specs[0]!;
      expect(keyed.description).toBe('Looks things up; use key [REDACTED]');
      // Names stay as they are (`token` is the argument's name), only texts are redacted.
      expect(keyed.parameters).toMatchObject({
        type: 'object',
        title: 'input, token=[REDACTED]',
        properties: { token: { type: 'string', description: 'the api token, e.g. [REDACTED]' }, region: { enum: ['eu', 'us'], default: 'eu' } },
        required: ['token'],
      });
      const call = registry.resolve({ id: 'call_keyed', name: 'mcp__hostile__keyed', arguments: '{"token":"t","region":"us"}' });
      expect(call.ok && (await call.tool.run(call.input, { signal: AbortSignal.timeout(5000), callId: 'call_keyed' }))).toEqual({
        ok: true,
        output: { text: 'called keyed' },
      });

      expect(mcp.skipped.map((e) => [e.tool, e.reason])).toEqual([
        ['badtype', 'invalid_input_schema'],
        ['badref', 'invalid_input_schema'],
        ['notobject', 'invalid_definition'],
        ['[REDACTED]', 'secret_in_name'],
        ['secretkey', 'secret_in_name'],
      ]);
      for (const error of mcp.skipped) {
        expect(isToolsError(error, 'MCP_TOOL_SKIPPED')).toBe(true);
        expect(error).toMatchObject({ server: 'hostile' });
        expect(error.message).toMatch(/^MCP server "hostile" tool "[^"]+" was skipped: /);
        for (const secret of [STRIPE, AWS_KEY, TOKEN]) expect(`${error.message}\n${error.stack}`).not.toContain(secret.slice(0, 12));
      }
      expect(mcp.skipped[0]!.message).toBe(
        'MCP server "hostile" tool "badtype" was skipped: its inputSchema is not a JSON Schema Buckley can validate arguments with (Unsupported type: frobnicate)',
      );
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});

describe('connectMcpHttpServer refuses what it cannot name or reach safely', () => {
  const refused = (server: { name: unknown; url: unknown }) =>
    connectMcpHttpServer(server as never).then(
      () => {
        throw new Error('expected a refusal');
      },
      (e: unknown) => e as Error,
    );

  it('a bad name or url is MCP_SERVER_FAILED before anything is sent, and a password in the url is never echoed', async () => {
    for (const name of ['', 'a b', 'x'.repeat(21), 'mcp/../x', 42]) {
      const error = await refused({ name, url: 'http://127.0.0.1:1/mcp' });
      expect(isToolsError(error, 'MCP_SERVER_FAILED')).toBe(true);
      expect(error.message).toContain('invalid name');
    }
    expect((await refused({ name: 'docs', url: 'not a url' })).message).toContain('invalid url');
    expect((await refused({ name: 'docs', url: 'file:///etc/passwd' })).message).toContain('file: url');
    const password = 'Hunter2Planted9Password';
    const error = await refused({ name: 'docs', url: `https://deploy:${password}@127.0.0.1:1/mcp` });
    expect(isToolsError(error, 'MCP_SERVER_FAILED')).toBe(true);
    expect(error.message).toContain('credentials in its url');
    expect(`${error.message}\n${error.stack}`).not.toContain(password);
  });

  it('two remote tools whose names clean to the same Buckley name are refused at connect, naming both', async () => {
    const server = await startServer({ MCP_FIXTURE_COLLIDE: '1' });
    try {
      const error = await refused({ name: 'clash', url: server.url });
      expect(isToolsError(error, 'MCP_SERVER_FAILED')).toBe(true);
      expect(error.message).toBe('MCP server "clash" lists tools "a.b" and "a_b", which both become "mcp__clash__a_b"');
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('an unreachable server is MCP_SERVER_FAILED naming it', async () => {
    const error = await refused({ name: 'gone', url: 'http://127.0.0.1:1/mcp' });
    expect(isToolsError(error, 'MCP_SERVER_FAILED')).toBe(true);
    expect(error.message).toMatch(/^MCP server "gone" could not be reached or listed: /);
  });
});
