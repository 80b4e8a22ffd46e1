import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type EventStore, createInMemoryEventStore } from '@buckley/events';
import { type FakeModelRequest, type FakeResponse, startFakeModelServer } from '@buckley/testing';
import { defineTool } from '@buckley/tools';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type AgentHarnessOptions, createAgentHarness } from './fixtures/agent-harness.js';
import { type AgentProgress, sessionStreamId } from './index.js';

// The cases an outside review broke, each through the public API over the real parts.
const base = mkdtempSync('/var/tmp/buckley-agent-hostile-');
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** Every conversation the model is sent must be valid: each assistant tool call answered once, right after it. */
function expectValidConversation(request: FakeModelRequest) {
  const messages = request.body?.messages ?? [];
  const problems: string[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'tool' && messages[i - 1]?.role !== 'tool' && messages[i - 1]?.role !== 'assistant')
      problems.push(`tool message ${i} follows a ${String(messages[i - 1]?.role)}`);
    const calls = (m.tool_calls as { id: string }[] | undefined) ?? [];
    if (m.role !== 'assistant' || calls.length === 0) continue;
    const answers: unknown[] = [];
    for (let j = i + 1; j < messages.length && messages[j]!.role === 'tool'; j++) answers.push(messages[j]!.tool_call_id);
    if (JSON.stringify(answers.sort()) !== JSON.stringify(calls.map((c) => c.id).sort()))
      problems.push(`assistant message ${i}: calls ${JSON.stringify(calls.map((c) => c.id))}, answers ${JSON.stringify(answers)}`);
  }
  expect(problems).toEqual([]);
}

async function scenario(
  script: readonly FakeResponse[] | ((request: FakeModelRequest) => FakeResponse),
  options: Partial<AgentHarnessOptions> & { store?: EventStore } = {},
) {
  const server = await startFakeModelServer({ script });
  const ws = join(base, `ws-${++n}`);
  mkdirSync(ws);
  const store = options.store ?? createInMemoryEventStore();
  const h = createAgentHarness({ workspace: ws, modelUrl: server.url, ...options, store });
  const sessionId = `hostile-${n}`;
  await h.orchestrator.startSession({ sessionId });
  await h.orchestrator.addMessage(sessionId, { role: 'user', content: 'go' });
  return {
    server,
    ws,
    h,
    store,
    sessionId,
    events: async () => {
      await h.recorder.flush();
      return store.read(sessionStreamId(sessionId));
    },
    close: async () => {
      await h.close();
      await server.close();
    },
  };
}

/** A tool with side effects that counts its runs. */
function counter() {
  const runs: string[] = [];
  const tool = defineTool({
    name: 'count',
    description: 'counts',
    input: z.strictObject({ tag: z.string() }),
    readOnly: false,
    approvalClass: 'read',
    handler: ({ tag }) => {
      runs.push(tag);
      return { ran: tag };
    },
  });
  return { runs, tool };
}

describe('the agent loop against hostile cases', () => {
  it('tool arguments holding secret-like text run as the model wrote them; the store keeps them redacted', async () => {
    const env = 'DATABASE_URL=postgres://user:pass@localhost/db\nAPI_KEY=changeme\n';
    const s = await scenario([
      {
        toolCalls: [
          { id: 'sh', name: 'run_shell', arguments: JSON.stringify({ command: 'export PASSWORD=hunter2 && echo "$PASSWORD" > pw.txt' }) },
          { id: 'wr', name: 'write_file', arguments: JSON.stringify({ path: '.env.example', content: env }) },
        ],
      },
      { text: 'ok' },
    ]);
    try {
      expect((await s.h.agent.run(s.sessionId)).outcome).toBe('success');
      expect(readFileSync(join(s.ws, 'pw.txt'), 'utf8')).toBe('hunter2\n');
      expect(readFileSync(join(s.ws, '.env.example'), 'utf8')).toBe(env);
      const stored = JSON.stringify(await s.events());
      expect(stored).not.toContain('hunter2');
      expect(stored).not.toContain('user:pass@');
    } finally {
      await s.close();
    }
  });

  it('a second run of a session, in the same process or re-entered from onProgress, is SESSION_BUSY: no call runs twice', async () => {
    const { runs, tool } = counter();
    const s = await scenario([{ toolCalls: [{ id: 'once', name: 'count', arguments: '{"tag":"a"}' }], chunkDelayMs: 50 }, { text: 'done' }], { tools: [tool] });
    try {
      const reentered: unknown[] = [];
      const first = s.h.agent.run(s.sessionId, {
        onProgress: (p: AgentProgress) => {
          if (p.type === 'turn_finished' && reentered.length === 0) reentered.push(s.h.agent.run(s.sessionId).catch((e: { code: string }) => e.code));
        },
      });
      await new Promise((r) => setTimeout(r, 20));
      const second = await s.h.agent.run(s.sessionId).catch((e: { code: string; retryAfterMs: number }) => e);
      expect(second).toMatchObject({ code: 'SESSION_BUSY', retryable: true });
      expect((second as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((await first).outcome).toBe('success');
      expect(await Promise.all(reentered)).toEqual(['SESSION_BUSY']);
      expect(runs).toEqual(['a']);
      // Released: the next run may go (nothing to do).
      expect(await s.h.agent.run(s.sessionId)).toMatchObject({ stopReason: 'end_turn' });
    } finally {
      await s.close();
    }
  });

  it('tool calls a later user message superseded are closed, and every conversation sent stays valid', async () => {
    const { runs, tool } = counter();
    const s = await scenario([{ text: 'fine' }], { tools: [tool] });
    try {
      await s.h.orchestrator.addMessage(s.sessionId, {
        role: 'assistant',
        content: '',
        toolCalls: [{ id: 'stale', name: 'count', arguments: '{"tag":"stale"}' }],
      });
      await s.h.orchestrator.addMessage(s.sessionId, { role: 'user', content: 'never mind, say fine' });
      expect(await s.h.agent.run(s.sessionId)).toMatchObject({ outcome: 'success', text: 'fine' });
      expect(runs).toEqual([]);
      expect((await s.events()).find((e) => e.type === 'tool.run.cancelled')).toMatchObject({ data: { operationId: 'stale' } });
      expectValidConversation(s.server.requests[0]!);
    } finally {
      await s.close();
    }
  });

  it('limits: undefined keeps the default, identical calls within one turn count, non-integers are refused, Infinity is no limit', async () => {
    const { runs, tool } = counter();
    const loop = (): FakeResponse => ({ toolCalls: [{ name: 'count', arguments: `{"tag":"${Math.random()}"}` }] });
    const s = await scenario(loop, { tools: [tool], limits: { maxSteps: 3 } });
    try {
      expect(await s.h.agent.run(s.sessionId, { limits: { maxSteps: undefined } })).toMatchObject({ stopReason: 'limit', limit: 'steps', steps: 3 });
      await expect(s.h.agent.run(s.sessionId, { limits: { maxSteps: 1.5 } })).rejects.toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
      await expect(s.h.agent.run(s.sessionId, { limits: { maxRepeatedCalls: 0.5 } })).rejects.toMatchObject({ code: 'INVALID_ORCHESTRATOR_INPUT' });
    } finally {
      await s.close();
    }
    const same = counter();
    const t = await scenario([{ toolCalls: [1, 2, 3].map((i) => ({ id: `same${i}`, name: 'count', arguments: '{"tag":"x"}' })) }], {
      tools: [same.tool],
      limits: { maxRepeatedCalls: 2, maxSteps: Infinity },
    });
    try {
      expect(await t.h.agent.run(t.sessionId)).toMatchObject({ stopReason: 'limit', limit: 'repeated_call' });
      expect(same.runs).toEqual([]);
    } finally {
      await t.close();
    }
    expect(runs.length).toBe(3);
  });

  it('ids the model reuses within a turn, unsafe ids, bad names and huge arguments: each call answered, the turn goes on', async () => {
    const { runs, tool } = counter();
    const s = await scenario(
      [
        {
          toolCalls: [
            { id: 'dup', name: 'count', arguments: '{"tag":"one"}' },
            { id: 'dup', name: 'count', arguments: '{"tag":"two"}' },
            { id: 'call 1/x', name: 'count', arguments: '{"tag":"three"}' },
            { id: `ghp_${'a1'.repeat(18)}`, name: 'count', arguments: '{"tag":"four"}' },
            { id: 'x'.repeat(129), name: 'count', arguments: '{"tag":"five"}' },
            { id: 'badname', name: 'n'.repeat(300), arguments: '{}' },
            { id: 'huge', name: 'write_file', arguments: JSON.stringify({ path: 'big.txt', content: 'z'.repeat(600_000) }) },
          ],
        },
        { text: 'survived' },
      ],
      { tools: [tool] },
    );
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result).toMatchObject({ outcome: 'success', text: 'survived' });
      expect(runs).toEqual(['one', 'two', 'three', 'four', 'five']);
      const answers = result.state.messages.flatMap((m) => (m.role === 'tool' ? [m] : []));
      expect(answers).toHaveLength(7);
      expect(new Set(answers.map((a) => a.toolCallId)).size).toBe(7);
      expect(answers.find((a) => a.content.includes('ARGUMENTS_TOO_LARGE'))).toBeDefined();
      expect(answers.find((a) => a.content.includes('UNKNOWN_TOOL'))).toBeDefined();
      expect(JSON.stringify(await s.events())).not.toContain('a1a1a1a1a1a1');
      expectValidConversation(s.server.requests[1]!);
    } finally {
      await s.close();
    }
  });

  it('a throwing tool in a parallel batch: the run ends after its siblings ended, with nothing written after it', async () => {
    const slow = defineTool({
      name: 'slow_ro',
      description: 'slow',
      input: z.strictObject({}),
      readOnly: true,
      handler: async () => {
        await new Promise((r) => setTimeout(r, 500));
        return { slow: true };
      },
    });
    const boom = defineTool({
      name: 'boom',
      description: 'throws',
      input: z.strictObject({}),
      readOnly: true,
      handler: () => {
        throw new Error('the tool broke');
      },
    });
    const s = await scenario(
      [
        {
          toolCalls: [
            { id: 's1', name: 'slow_ro', arguments: '{}' },
            { id: 'b1', name: 'boom', arguments: '{}' },
          ],
        },
      ],
      { tools: [slow, boom] },
    );
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result.stopReason).toBe('error');
      const events = await s.events();
      const released = events.findIndex((e) => e.type === 'agent.run.released');
      const completed = events.findIndex((e) => e.type === 'tool.run.completed' && (e.data as { operationId: string }).operationId === 's1');
      expect(completed).toBeGreaterThan(-1);
      expect(completed).toBeLessThan(released);
    } finally {
      await s.close();
    }
  });

  it('maxWallTimeMs stops a model request in flight; a cancel after the model answered runs none of its calls', async () => {
    const s = await scenario([{ text: 'late', headersDelayMs: 4000 }], { limits: { maxWallTimeMs: 300 } });
    try {
      const t0 = performance.now();
      expect(await s.h.agent.run(s.sessionId)).toMatchObject({ stopReason: 'limit', limit: 'wall_time' });
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally {
      await s.close();
    }
    const { runs, tool } = counter();
    const t = await scenario([{ toolCalls: [{ id: 'c1', name: 'count', arguments: '{"tag":"c"}' }], chunkDelayMs: 100 }, { text: 'after' }], { tools: [tool] });
    try {
      const controller = new AbortController();
      const result = await t.h.agent.run(t.sessionId, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.type === 'turn_started') setTimeout(() => controller.abort(), 150);
        },
      });
      expect(result).toMatchObject({ outcome: 'cancelled', text: '' });
      expect((await t.h.agent.run(t.sessionId)).text).toBe('after');
      expect(runs).toEqual([]);
      expectValidConversation(t.server.requests.at(-1)!);
    } finally {
      await t.close();
    }
  });

  it('secrets: not in the error of a failed run, not in the text progress (even split across chunks); an async onProgress that rejects is ignored', async () => {
    const token = `ghp_${'Q7'.repeat(18)}`;
    const aws = 'AKIAIOSFODNN7EXAMPLE';
    const s = await scenario([
      { text: ['here: aws_access_key_id = AKIAIOSF', 'ODNN7EXAMPLE and ', token.slice(0, 10), `${token.slice(10)} done`] },
      { type: 'error', status: 500, body: { error: { message: `upstream leaked ${token}` } } },
    ]);
    try {
      let text = '';
      const result = await s.h.agent.run(s.sessionId, {
        onProgress: async (p) => {
          if (p.type === 'text') text += p.delta;
          throw new Error('a consumer that rejects');
        },
      });
      expect(result.outcome).toBe('success');
      expect(text).toContain('done');
      expect(text).not.toContain(token);
      expect(text).not.toContain(aws);
      await s.h.orchestrator.addMessage(s.sessionId, { role: 'user', content: 'again' });
      const failed = await s.h.agent.run(s.sessionId);
      expect(failed.stopReason).toBe('error');
      expect(JSON.stringify(failed.error)).not.toContain(token);
    } finally {
      await s.close();
    }
  });

  it('update_plan refuses a new goal while a plan is open', async () => {
    const call = (id: string, args: object) => ({ toolCalls: [{ id, name: 'update_plan', arguments: JSON.stringify(args) }] });
    const s = await scenario([
      call('p1', { goal: 'first', add: [{ taskId: 't1', title: 'one' }] }),
      call('p2', { goal: 'second', add: [{ taskId: 't2', title: 'two' }] }),
      { text: 'ok' },
    ]);
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result.state.plan).toMatchObject({ goal: 'first', tasks: [{ taskId: 't1' }] });
      expect(result.state.messages.find((m) => m.role === 'tool' && m.toolCallId === 'p2')).toMatchObject({ outcome: 'failure' });
    } finally {
      await s.close();
    }
  });
});
