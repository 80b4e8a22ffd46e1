import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EventStore, type StoredEvent, createInMemoryEventStore } from '@buckley/events';
import { type FakeModelRequest, type FakeResponse, startFakeModelServer } from '@buckley/testing';
import { createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { defineTool } from '@buckley/tools';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type AgentHarnessOptions, createAgentHarness } from './fixtures/agent-harness.js';
import { type AgentProgress, sessionStreamId } from './index.js';

const base = mkdtempSync('/var/tmp/buckley-agent-test-');
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The tool messages of a request, as the model was sent them. */
const toolMessages = (request: FakeModelRequest) => (request.body?.messages ?? []).filter((m) => m.role === 'tool');

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
      const pg = await createTestPostgresEventStore('agent');
      return { store: pg.store, close: () => pg.close() };
    },
  ],
];

let counter = 0;
function workspace() {
  const ws = join(base, `ws-${++counter}`);
  mkdirSync(ws);
  writeFileSync(join(ws, 'a.txt'), 'hello world\n');
  return ws;
}

describe.each(stores)('the agent loop over the fake model server and the real sandbox, events on %s', (_kind, open) => {
  let store: EventStore;
  let closeStore: () => Promise<void>;
  beforeAll(async () => {
    ({ store, close: closeStore } = await open());
  });
  afterAll(() => closeStore());

  /** A session with one user message, an agent over `script`, and what it recorded. */
  async function scenario(script: readonly FakeResponse[] | ((request: FakeModelRequest) => FakeResponse), options: Partial<AgentHarnessOptions> = {}) {
    const server = await startFakeModelServer({ script });
    const ws = options.workspace ?? workspace();
    const h = createAgentHarness({ store, workspace: ws, modelUrl: server.url, ...options });
    const sessionId = `s-${_kind}-${++counter}`;
    await h.orchestrator.startSession({ sessionId, title: 'agent test' });
    await h.orchestrator.addMessage(sessionId, { role: 'user', content: 'change world to buckley in a.txt, then copy it to b.txt' });
    const progress: AgentProgress[] = [];
    const close = async () => {
      await h.close();
      await server.close();
    };
    const events = async (): Promise<StoredEvent[]> => {
      await h.recorder.flush();
      return store.read(sessionStreamId(sessionId));
    };
    return { server, ws, h, sessionId, progress, close, events };
  }

  it('reads a file, edits it, runs a command in the sandbox and finishes: every step an attributed event', async () => {
    const s = await scenario([
      {
        text: 'Reading.',
        toolCalls: [{ id: 'call_read', name: 'read_file', arguments: '{"path":"a.txt"}' }],
        usage: { prompt_tokens: 100, completion_tokens: 10 },
      },
      {
        toolCalls: [{ id: 'call_edit', name: 'edit_file', arguments: JSON.stringify({ path: 'a.txt', oldText: 'world', newText: 'buckley' }) }],
        usage: { prompt_tokens: 200, completion_tokens: 20 },
      },
      {
        toolCalls: [{ id: 'call_copy', name: 'run_shell', arguments: JSON.stringify({ command: 'cp a.txt b.txt' }) }],
        usage: { prompt_tokens: 300, completion_tokens: 30 },
      },
      { text: ['Done: ', 'a.txt says hello buckley.'], usage: { prompt_tokens: 400, completion_tokens: 40 } },
    ]);
    try {
      const result = await s.h.agent.run(s.sessionId, { onProgress: (p) => s.progress.push(p), attribution: { agentId: 'agent-e2e' } });
      expect(result).toMatchObject({ outcome: 'success', stopReason: 'end_turn', steps: 4, text: 'Done: a.txt says hello buckley.', limit: null, error: null });
      expect(result.usage).toEqual({ inputTokens: 1000, outputTokens: 100, costUsd: expect.closeTo((1000 * 1 + 100 * 2) / 1e6, 12) });
      expect(readFileSync(join(s.ws, 'a.txt'), 'utf8')).toBe('hello buckley\n');
      expect(readFileSync(join(s.ws, 'b.txt'), 'utf8')).toBe('hello buckley\n');
      // The model read each result: the second request carries the file's content.
      expect(s.server.requests).toHaveLength(4);
      expect(toolMessages(s.server.requests[1]!).map((m) => m.tool_call_id)).toEqual(['call_read']);
      expect(JSON.stringify(toolMessages(s.server.requests[1]!))).toContain('hello world');
      expect(s.server.requests[0]!.body?.messages?.[0]).toMatchObject({ role: 'system', content: 'You are a test agent.' });
      const all = await s.events();
      // The run's hold on the session: claimed first, released last (renewed in between while it lasts).
      expect(
        all
          .filter((e) => e.type.startsWith('agent.run.'))
          .map((e) => e.type)
          .filter((t) => t !== 'agent.run.renewed'),
      ).toEqual(['agent.run.claimed', 'agent.run.released']);
      expect(all.find((e) => e.type === 'agent.run.claimed')!.version).toBe(3);
      const events = all.filter((e) => !e.type.startsWith('agent.run.'));
      const types = events.map((e) => e.type).filter((t) => !t.startsWith('model.call.'));
      const run = (id: string) => ['tool.run.requested', 'tool.run.approved', 'tool.run.started', 'tool.run.completed'].map((t) => `${t}:${id}`);
      const turn = ['agent.turn.started', 'session.message_added', 'agent.turn.completed'];
      expect(
        events
          .filter((e) => !e.type.startsWith('model.call.'))
          .map((e) => (e.type.startsWith('tool.run.') ? `${e.type}:${(e.data as { operationId: string }).operationId}` : e.type)),
      ).toEqual([
        'session.started',
        'session.message_added',
        ...turn,
        ...run('call_read'),
        ...turn,
        ...run('call_edit'),
        ...turn,
        ...run('call_copy'),
        ...turn,
      ]);
      expect(types).toHaveLength(2 + 4 * 3 + 3 * 4);
      // Every model call is recorded, and every event after the start names the session and the agent.
      expect(events.filter((e) => e.type === 'model.call.completed')).toHaveLength(4);
      for (const e of events.slice(2)) {
        expect({ type: e.type, ...e.metadata }).toMatchObject({ type: e.type, sessionId: s.sessionId, agentId: 'agent-e2e' });
      }
      for (const e of events.filter((e) => e.type.startsWith('tool.run.'))) expect(e.metadata.toolName).toBeTypeOf('string');
      const turns = events.filter((e) => e.type === 'agent.turn.completed');
      expect(turns.map((e) => (e.data as { output: { toolCalls: number } }).output.toolCalls)).toEqual([1, 1, 1, 0]);
      expect(turns.every((e) => e.metadata.modelId === 'fake-1')).toBe(true);
      // Progress: deltas, and each call's start and end, in order.
      expect(
        s.progress
          .filter((p) => p.type === 'text')
          .map((p) => (p as { delta: string }).delta)
          .join(''),
      ).toBe('Reading.Done: a.txt says hello buckley.');
      expect(s.progress.filter((p) => p.type.startsWith('tool_call_')).map((p) => `${p.type}:${(p as { toolCallId: string }).toolCallId}`)).toEqual([
        'tool_call_started:call_read',
        'tool_call_finished:call_read',
        'tool_call_started:call_edit',
        'tool_call_finished:call_edit',
        'tool_call_started:call_copy',
        'tool_call_finished:call_copy',
      ]);
      // The state folded from the stream is the conversation: a second run has nothing to do.
      const again = await s.h.agent.run(s.sessionId);
      expect(again).toMatchObject({ outcome: 'success', stopReason: 'end_turn', steps: 4 });
      expect(s.server.requests).toHaveLength(4);
    } finally {
      await s.close();
    }
  });

  it('read-only calls of one turn run in parallel; a call with side effects runs alone, in order', async () => {
    // Each `meet` call waits until `together` calls are inside at once (or gives up after 5 s):
    // run one by one, none would ever meet another.
    let inside = 0;
    let peak = 0;
    const log: string[] = [];
    const meet = (name: string, readOnly: boolean) =>
      defineTool({
        name,
        description: 'waits for company',
        input: z.strictObject({ together: z.number().int(), tag: z.string() }),
        readOnly,
        async handler({ together, tag }) {
          inside++;
          peak = Math.max(peak, inside);
          log.push(`in:${tag}`);
          const deadline = Date.now() + 5_000;
          while (inside < together && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
          const met = inside >= together;
          await new Promise((r) => setTimeout(r, 20));
          log.push(`out:${tag}`);
          inside--;
          return { met };
        },
      });
    const args = (together: number, tag: string) => JSON.stringify({ together, tag });
    const s = await scenario(
      [
        {
          toolCalls: [
            { id: 'r1', name: 'meet_read', arguments: args(3, 'r1') },
            { id: 'r2', name: 'meet_read', arguments: args(3, 'r2') },
            { id: 'r3', name: 'meet_read', arguments: args(3, 'r3') },
            { id: 'w1', name: 'meet_write', arguments: args(1, 'w1') },
            { id: 'w2', name: 'meet_write', arguments: args(1, 'w2') },
            { id: 'r4', name: 'meet_read', arguments: args(1, 'r4') },
          ],
        },
        { text: 'ok' },
      ],
      { tools: [meet('meet_read', true), meet('meet_write', false)] },
    );
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result.outcome).toBe('success');
      const outputs = result.state.messages.flatMap((m) => (m.role === 'tool' ? [`${m.toolCallId}:${m.content}`] : []));
      // The parallel ones are answered in the order they ended.
      expect(outputs.slice(0, 3).sort()).toEqual(['r1:{"met":true}', 'r2:{"met":true}', 'r3:{"met":true}']);
      expect(outputs.slice(3)).toEqual(['w1:{"met":true}', 'w2:{"met":true}', 'r4:{"met":true}']);
      expect(peak).toBe(3);
      // The writes start only after every read before them ended, one at a time, and the read after them waits for them.
      expect(log.slice(6)).toEqual(['in:w1', 'out:w1', 'in:w2', 'out:w2', 'in:r4', 'out:r4']);
    } finally {
      await s.close();
    }
  });

  it('the model plans through update_plan: plan.* and task.* events of the session, plan_changed progress, refusals it can read', async () => {
    const plan = (change: object) => JSON.stringify(change);
    const s = await scenario([
      {
        toolCalls: [
          {
            id: 'p1',
            name: 'update_plan',
            arguments: plan({
              goal: 'rename world',
              add: [
                { taskId: 'edit', title: 'edit a.txt' },
                { taskId: 'check', title: 'check', dependsOn: ['edit'] },
              ],
            }),
          },
        ],
      },
      // `check` cannot start before `edit` is completed: a refusal the model reads.
      { toolCalls: [{ id: 'p2', name: 'update_plan', arguments: plan({ status: [{ taskId: 'check', status: 'in_progress' }] }) }] },
      {
        toolCalls: [
          {
            id: 'p3',
            name: 'update_plan',
            arguments: plan({
              status: [
                { taskId: 'edit', status: 'in_progress' },
                { taskId: 'edit', status: 'completed' },
              ],
            }),
          },
        ],
      },
      {
        toolCalls: [
          {
            id: 'p4',
            name: 'update_plan',
            arguments: plan({
              status: [
                { taskId: 'check', status: 'in_progress' },
                { taskId: 'check', status: 'completed' },
              ],
            }),
          },
        ],
      },
      { text: 'planned and done' },
    ]);
    try {
      const result = await s.h.agent.run(s.sessionId, { onProgress: (p) => s.progress.push(p) });
      expect(result.outcome).toBe('success');
      expect(result.state.plan).toMatchObject({
        goal: 'rename world',
        status: 'completed',
        tasks: [
          { taskId: 'edit', status: 'completed' },
          { taskId: 'check', status: 'completed' },
        ],
      });
      const answers = Object.fromEntries(result.state.messages.flatMap((m) => (m.role === 'tool' ? [[m.toolCallId, m]] : [])));
      expect(answers.p2).toMatchObject({ outcome: 'failure' });
      expect(answers.p2?.content).toContain('ILLEGAL_TASK_TRANSITION');
      const events = await s.events();
      expect(events.filter((e) => e.type.startsWith('plan.') || e.type.startsWith('task.')).map((e) => e.type)).toEqual([
        'plan.created',
        'task.started',
        'task.completed',
        'task.started',
        'task.completed',
        'plan.completed',
      ]);
      expect(s.progress.filter((p) => p.type === 'plan_changed')).toHaveLength(3);
    } finally {
      await s.close();
    }
  });

  it('a paused session is not run; an ended one is refused with SESSION_ENDED', async () => {
    const s = await scenario([{ text: 'never asked' }]);
    try {
      await s.h.orchestrator.pause(s.sessionId, { reason: 'the user is away' });
      expect(await s.h.agent.run(s.sessionId)).toMatchObject({ outcome: 'cancelled', stopReason: 'paused', steps: 0 });
      expect(s.server.requests).toHaveLength(0);
      await s.h.orchestrator.endSession(s.sessionId);
      await expect(s.h.agent.run(s.sessionId)).rejects.toMatchObject({ code: 'SESSION_ENDED' });
    } finally {
      await s.close();
    }
  });

  it('storage: 100 tool calls on a conversation of about 200k tokens store at most 2x the final conversation (no prompt stored again)', async () => {
    const ws = workspace();
    for (let i = 0; i < 100; i++) writeFileSync(join(ws, `f${i}.txt`), `${`file ${i} line of realistic text, with words and numbers ${i * 7}\n`.repeat(60)}`);
    // 20 turns of 5 calls: every model request carries the whole conversation, the store must not.
    const script = (request: FakeModelRequest): FakeResponse => {
      const done = toolMessages(request).length;
      if (done >= 100) return { text: 'read them all' };
      return { toolCalls: Array.from({ length: 5 }, (_, k) => ({ name: 'read_file', arguments: JSON.stringify({ path: `f${done + k}.txt` }) })) };
    };
    const s = await scenario(script, { workspace: ws, contextWindowTokens: 1_000_000 });
    try {
      // About 200k tokens: the opening message is 400 kB, the files 100 x ~4 kB.
      await s.h.orchestrator.addMessage(s.sessionId, {
        role: 'user',
        content: `context to keep in mind:\n${'the quick brown fox jumps over the lazy dog. '.repeat(9_000)}`,
      });
      const result = await s.h.agent.run(s.sessionId);
      expect(result).toMatchObject({ outcome: 'success', steps: 21 });
      const last = s.server.requests.at(-1)!;
      const conversationBytes = Buffer.byteLength(JSON.stringify(last.body?.messages));
      expect(conversationBytes).toBeGreaterThan(750_000);
      const storedBytes = (await s.events()).reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e.data)) + Buffer.byteLength(JSON.stringify(e.metadata)), 0);
      const sentBytes = s.server.requests.reduce((n, r) => n + Buffer.byteLength(r.rawBody), 0);
      expect(sentBytes).toBeGreaterThan(10 * conversationBytes);
      expect(storedBytes).toBeLessThanOrEqual(2 * conversationBytes);
      // Stored whole, not cut by the redactor: the conversation folded from the stream is what was said.
      expect(result.state.messages[1]?.content.length).toBe('context to keep in mind:\n'.length + 45 * 9_000);
      if (process.env.BUCKLEY_AGENT_STORAGE_REPORT) console.log(JSON.stringify({ store: _kind, conversationBytes, storedBytes, sentBytes }));
    } finally {
      await s.close();
    }
  });

  it('a denied tool call is tool.run.denied, reported to the model, and the run goes on', async () => {
    const s = await scenario([
      { toolCalls: [{ id: 'deny', name: 'write_file', arguments: '{"path":".git/hooks/pre-commit","content":"x"}' }] },
      { text: 'understood' },
    ]);
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result).toMatchObject({ outcome: 'success', text: 'understood' });
      const denied = (await s.events()).find((e) => e.type === 'tool.run.denied');
      expect(denied).toMatchObject({ data: { operationId: 'deny', rule: 'protected_path' }, metadata: { outcome: 'denied', sessionId: s.sessionId } });
      expect(JSON.stringify(toolMessages(s.server.requests[1]!))).toContain('read-only for tools');
    } finally {
      await s.close();
    }
  });

  it('a tool timeout is tool.run.timed_out, reported, and the run goes on', async () => {
    const s = await scenario([
      { toolCalls: [{ id: 'slow', name: 'run_shell', arguments: '{"command":"sleep 30","timeoutSeconds":1}' }] },
      { text: 'it timed out' },
    ]);
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result).toMatchObject({ outcome: 'success', text: 'it timed out' });
      expect((await s.events()).find((e) => e.type === 'tool.run.timed_out')).toMatchObject({
        data: { operationId: 'slow' },
        metadata: { outcome: 'timeout' },
      });
      expect(JSON.stringify(toolMessages(s.server.requests[1]!))).toContain('timed out');
    } finally {
      await s.close();
    }
  });

  it('a model 500 ends the run as a failure with the model error code: agent.turn.failed', async () => {
    const s = await scenario([{ type: 'error', status: 500, body: { error: { message: 'upstream broke' } } }]);
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result).toMatchObject({ outcome: 'failure', stopReason: 'error', steps: 1 });
      expect(result.error?.code).toMatch(/^MODEL_/);
      const failed = (await s.events()).find((e) => e.type === 'agent.turn.failed');
      expect(failed).toMatchObject({ metadata: { outcome: 'failure', sessionId: s.sessionId }, data: { errorCode: result.error?.code } });
    } finally {
      await s.close();
    }
  });

  it('a model 429 with Retry-After is retried by the client and the turn succeeds (two attempts)', async () => {
    const s = await scenario([{ type: 'error', status: 429, headers: { 'retry-after': '0' }, body: { error: { message: 'slow down' } } }, { text: 'fine' }], {
      maxRetries: 2,
    });
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result).toMatchObject({ outcome: 'success', text: 'fine', steps: 1 });
      expect(s.server.requests).toHaveLength(2);
      const completed = (await s.events()).find((e) => e.type === 'model.call.completed');
      expect(completed?.data).toMatchObject({ attempts: 2 });
    } finally {
      await s.close();
    }
  });

  it('an abort during the model request ends the turn cancelled: agent.turn.cancelled, nothing half-written', async () => {
    const s = await scenario([{ type: 'hang' }]);
    try {
      const controller = new AbortController();
      const running = s.h.agent.run(s.sessionId, { signal: controller.signal });
      await new Promise((r) => setTimeout(r, 300));
      controller.abort(new Error('the user pressed stop'));
      const result = await running;
      expect(result).toMatchObject({ outcome: 'cancelled', stopReason: 'cancelled' });
      const events = await s.events();
      expect(events.find((e) => e.type === 'agent.turn.cancelled')).toMatchObject({ metadata: { outcome: 'cancelled' } });
      expect(events.filter((e) => e.type === 'session.message_added')).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('an abort during a tool call cancels the tool and closes the turn cancelled', async () => {
    const s = await scenario([{ toolCalls: [{ id: 'long', name: 'run_shell', arguments: '{"command":"sleep 30"}' }] }]);
    try {
      const controller = new AbortController();
      const running = s.h.agent.run(s.sessionId, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.type === 'tool_call_started') setTimeout(() => controller.abort(new Error('stop')), 300);
        },
      });
      const t0 = performance.now();
      const result = await running;
      expect(performance.now() - t0).toBeLessThan(15_000);
      expect(result).toMatchObject({ outcome: 'cancelled', stopReason: 'cancelled' });
      expect((await s.events()).find((e) => e.type === 'tool.run.cancelled')).toMatchObject({
        data: { operationId: 'long' },
        metadata: { outcome: 'cancelled' },
      });
    } finally {
      await s.close();
    }
  });

  it('limits: steps, tokens and the same call repeated stop the run with a session.limit_reached naming the limit', async () => {
    const loop = (): FakeResponse => ({
      toolCalls: [{ name: 'read_file', arguments: '{"path":"a.txt"}' }],
      usage: { prompt_tokens: 1000, completion_tokens: 10 },
    });
    for (const [limits, limit, steps] of [
      [{ maxSteps: 2, maxRepeatedCalls: 100 }, 'steps', 2],
      [{ maxTokens: 2500, maxRepeatedCalls: 100 }, 'tokens', 3],
      [{ maxRepeatedCalls: 2 }, 'repeated_call', 3],
    ] as const) {
      const s = await scenario(loop, { limits });
      try {
        const result = await s.h.agent.run(s.sessionId, { onProgress: (p) => s.progress.push(p) });
        expect(result).toMatchObject({ outcome: 'failure', stopReason: 'limit', limit, steps });
        const events = await s.events();
        expect(events.filter((e) => e.type === 'session.limit_reached').map((e) => (e.data as { limit: string }).limit)).toEqual([limit]);
        expect(s.progress.filter((p) => p.type === 'limit_reached')).toHaveLength(1);
        // Every call the model made is answered (the run's last ones as cancelled): the conversation stays valid.
        const calls = result.state.messages.flatMap((m) => (m.role === 'assistant' ? m.toolCalls.map((c) => c.id) : []));
        const answers = new Set(result.state.messages.flatMap((m) => (m.role === 'tool' ? [m.toolCallId] : [])));
        expect(calls.every((id) => answers.has(id))).toBe(true);
      } finally {
        await s.close();
      }
    }
  });

  it('a model that reuses a tool call id across turns gets a fresh one: the second call is run, not taken as answered', async () => {
    const s = await scenario([
      { toolCalls: [{ id: 'call_0', name: 'read_file', arguments: '{"path":"a.txt"}' }] },
      { toolCalls: [{ id: 'call_0', name: 'write_file', arguments: '{"path":"d.txt","content":"second"}' }] },
      { text: 'ok' },
    ]);
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result.outcome).toBe('success');
      expect(readFileSync(join(s.ws, 'd.txt'), 'utf8')).toBe('second');
      const ids = (await s.events()).filter((e) => e.type === 'tool.run.completed').map((e) => (e.data as { operationId: string }).operationId);
      expect(new Set(ids).size).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('a conversation over the context window has its oldest tool outputs shortened, once, as an event', async () => {
    const ws = workspace();
    writeFileSync(join(ws, 'big.txt'), `${'lorem ipsum dolor sit amet '.repeat(400)}\n`);
    const s = await scenario(
      [
        { toolCalls: [{ id: 'big1', name: 'read_file', arguments: '{"path":"big.txt"}' }] },
        { toolCalls: [{ id: 'big2', name: 'read_file', arguments: '{"path":"big.txt","startLine":1}' }] },
        { toolCalls: [{ id: 'big3', name: 'read_file', arguments: '{"path":"big.txt","endLine":1}' }] },
        { text: 'read' },
      ],
      { contextWindowTokens: 5000, workspace: ws },
    );
    try {
      const result = await s.h.agent.run(s.sessionId);
      expect(result.outcome).toBe('success');
      const shortened = (await s.events())
        .filter((e) => e.type === 'session.context_shortened')
        .flatMap((e) => (e.data as { toolCallIds: string[] }).toolCallIds);
      expect(shortened).toEqual(['big1', 'big2']);
      const last = toolMessages(s.server.requests[3]!);
      expect(String(last.find((m) => m.tool_call_id === 'big1')?.content)).toContain('shortened by the agent');
      expect(String(last.find((m) => m.tool_call_id === 'big3')?.content)).not.toContain('shortened by the agent');
      // The store keeps the whole output: shortening is what is sent, not what is kept.
      expect(JSON.stringify(result.state.messages.find((m) => m.role === 'tool' && m.toolCallId === 'big1'))).not.toContain('shortened by the agent');
    } finally {
      await s.close();
    }
  });
});
