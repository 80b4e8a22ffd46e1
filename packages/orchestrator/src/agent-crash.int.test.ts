import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type FakeModelRequest, type FakeResponse, startFakeModelServer } from '@buckley/testing';
import { type TestPostgresEventStore, createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrchestrator, sessionStreamId } from './index.js';

// Node runs the fixture with tsx's loader, so the pid we kill is the agent's process itself.
const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
const fixture = join(import.meta.dirname, 'fixtures/agent-process.ts');
const children: ChildProcess[] = [];

/** Starts the agent process; `lines` collects its stdout lines, `exited` its end. */
function start(args: readonly string[]) {
  const child = spawn(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  let stderr = '';
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let cut = buffer.indexOf('\n'); cut >= 0; cut = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 1);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  return { child, lines, exited, stderr: () => stderr };
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the agent resumes a session after kill -9 of its process (Postgres, real processes, real sandbox)', () => {
  let pg: TestPostgresEventStore;
  const ws = mkdtempSync('/var/tmp/buckley-agent-crash-');
  beforeAll(async () => {
    pg = await createTestPostgresEventStore('agent_crash');
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await pg.close();
    rmSync(ws, { recursive: true, force: true });
  });

  it('no completed call runs twice, the interrupted call is reported to the model, the session finishes', async () => {
    // The model: a side effect, then a call that never ends in time, then the end of the turn.
    const script = (request: FakeModelRequest): FakeResponse => {
      const answered = (request.body?.messages ?? []).filter((m) => m.role === 'tool').map((m) => m.tool_call_id);
      if (answered.length === 0)
        return { toolCalls: [{ id: 'once', name: 'run_shell', arguments: JSON.stringify({ command: 'echo ran >> side-effect.txt' }) }] };
      if (answered.length === 1)
        return { toolCalls: [{ id: 'slow', name: 'run_shell', arguments: JSON.stringify({ command: 'echo ran >> slow.txt; sleep 60' }) }] };
      return { text: 'finished after the interruption' };
    };
    await using server = await startFakeModelServer({ script });
    await using orchestrator = createOrchestrator({ store: pg.store });
    const sessionId = 'crash-1';
    await orchestrator.startSession({ sessionId });
    await orchestrator.addMessage(sessionId, { role: 'user', content: 'do the two steps' });
    const args = [pg.pg.schema, ws, server.url, sessionId];

    const first = start(args);
    const startedSlow = async () =>
      (await pg.store.read(sessionStreamId(sessionId))).find(
        (e) => e.type === 'tool.run.started' && (e.data as { operationId: string }).operationId === 'slow',
      );
    await until('the slow call to start', startedSlow);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.lines).toEqual(['READY']);

    const second = start(args);
    const [code] = await second.exited;
    expect({ code, stderr: code === 0 ? '' : second.stderr() }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(second.lines.at(-1)!)).toMatchObject({ outcome: 'success', stopReason: 'end_turn', text: 'finished after the interruption' });

    // The completed call ran once; the interrupted one was not run again.
    expect(readFileSync(join(ws, 'side-effect.txt'), 'utf8')).toBe('ran\n');
    const events = await pg.store.read(sessionStreamId(sessionId));
    const of = (id: string) =>
      events.filter((e) => e.type.startsWith('tool.run.') && (e.data as { operationId: string }).operationId === id).map((e) => e.type);
    expect(of('once')).toEqual(['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.completed']);
    expect(of('slow')).toEqual(['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.failed']);
    expect(events.find((e) => e.type === 'tool.run.failed')).toMatchObject({
      data: { operationId: 'slow', errorCode: 'INTERRUPTED' },
      metadata: { sessionId, outcome: 'failure' },
    });
    // The model was told, and asked three times in all (the crashed process's turns are not repeated).
    expect(server.requests).toHaveLength(3);
    const told = (server.requests[2]!.body?.messages ?? []).find((m) => m.role === 'tool' && m.tool_call_id === 'slow');
    expect(String(told?.content)).toContain('INTERRUPTED');
    const state = await orchestrator.getSession(sessionId);
    expect(state.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
  });
});
