// Orchestrator overhead per agent step: what createAgent adds to a model turn with one tool call,
// excluding the model's and the tool's own time. Both sides talk to the same fake
// OpenAI-compatible server (zero latency, over real HTTP) through the same model client and call
// the same no-op tool:
// - raw: a hand-written loop: chat with the conversation so far, run the tool, append both, again;
// - agent: agent.run() on a session (the orchestrator, the tool executor's middleware chain, the
//   recorder's tool.run.* / agent.turn.* / model.call.* events, the fold of the session stream).
// A session is STEPS turns with one tool call each and a last turn that ends; sessions of the two
// sides alternate. Overhead per step = (agent - raw) / turns. Stores: in-memory and Postgres
// (awaited appends). Also reported: events and bytes stored per step.
// Sessions: BENCH_AGENT_SESSIONS (default 60), turns per session BENCH_AGENT_STEPS (default 10).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { defaultConfig } from '@buckley/config';
import { type EventStore, createInMemoryEventStore } from '@buckley/events';
import { type ChatMessage, createOpenAiModelClient } from '@buckley/model';
import { createRecorder } from '@buckley/observability';
import { createAgent, createOrchestrator, sessionStreamId } from '@buckley/orchestrator';
import { createSandbox } from '@buckley/sandbox';
import { type FakeModelRequest, type FakeResponse, startFakeModelServer } from '@buckley/testing';
import { createToolExecutor, createToolRegistry } from '@buckley/tools';
import { withPostgresEventStore } from './bench-postgres.js';
import { noopTool as noop } from './noop-tool.js';
import { type BenchRow, latencyStats, report } from './harness.js';

const sessions = Number(process.env.BENCH_AGENT_SESSIONS ?? 60);
const steps = Number(process.env.BENCH_AGENT_STEPS ?? 10);

/** One tool call per turn until `steps` were answered, then the end of the turn. */
const script = (request: FakeModelRequest): FakeResponse => {
  const answered = (request.body?.messages ?? []).filter((m) => m.role === 'tool').length;
  if (answered >= steps) return { text: 'done', usage: { prompt_tokens: 200, completion_tokens: 2 } };
  return { toolCalls: [{ name: 'noop', arguments: `{"n":${answered}}` }], usage: { prompt_tokens: 200 + answered * 20, completion_tokens: 10 } };
};

interface Side {
  raw: number[];
  agent: number[];
  events: number;
  bytes: number;
}

async function run(store: EventStore, label: string): Promise<Side> {
  const workspace = mkdtempSync('/var/tmp/bench-agent-');
  const config = { ...defaultConfig(), approval: { ...defaultConfig().approval, mode: 'auto' as const } };
  await using server = await startFakeModelServer({ script, maxRecordedRequests: 10 });
  await using sandbox = createSandbox({ config: config.sandbox, workspace });
  await using recorder = createRecorder({ store });
  await using executor = createToolExecutor({ registry: createToolRegistry({ builtins: [noop] }), sandbox, recorder, config, workspace });
  const modelConfig = { baseUrl: server.url, apiKeyEnv: 'K', id: 'fake-1', maxRetries: 0, prices: [{ model: 'fake-1', input: 1, output: 2 }] };
  await using model = createOpenAiModelClient({ config: modelConfig, env: { K: 'sk-bench' }, onObservation: recorder.observer() });
  await using rawModel = createOpenAiModelClient({ config: modelConfig, env: { K: 'sk-bench' } });
  await using orchestrator = createOrchestrator({ store });
  const agent = createAgent({ orchestrator, store, recorder, model, tools: executor, modelId: 'fake-1', systemPrompt: 'bench' });
  const tools = executor.registry.specs();
  const signal = new AbortController().signal;
  const out: Side = { raw: [], agent: [], events: 0, bytes: 0 };

  const raw = async () => {
    const t0 = performance.now();
    const messages: ChatMessage[] = [
      { role: 'system', content: 'bench' },
      { role: 'user', content: 'call noop until done' },
    ];
    for (;;) {
      const result = await rawModel.chat({ messages, tools }).result();
      if (result.toolCalls.length === 0) break;
      const call = result.toolCalls[0]!;
      const output = await noop.run(call.input as { n: number }, { signal, callId: call.id });
      messages.push({ role: 'assistant', content: null, toolCalls: [{ id: call.id, name: call.name, arguments: call.arguments }] });
      messages.push({ role: 'tool', toolCallId: call.id, content: JSON.stringify(output.ok ? output.output : null) });
    }
    return performance.now() - t0;
  };
  let n = 0;
  const session = async (measure: boolean) => {
    const sessionId = `${label}-${++n}`;
    await orchestrator.startSession({ sessionId });
    await orchestrator.addMessage(sessionId, { role: 'user', content: 'call noop until done' });
    const t0 = performance.now();
    const result = await agent.run(sessionId);
    const ms = performance.now() - t0;
    if (result.outcome !== 'success' || result.steps !== steps + 1) throw new Error(`agent run ended ${result.stopReason} after ${result.steps} steps`);
    if (measure) {
      await recorder.flush();
      const events = await store.read(sessionStreamId(sessionId));
      out.events += events.length;
      out.bytes += events.reduce((b, e) => b + Buffer.byteLength(JSON.stringify(e.data)) + Buffer.byteLength(JSON.stringify(e.metadata)), 0);
    }
    return ms;
  };
  try {
    for (let i = 0; i < 5; i++) {
      await raw();
      await session(false);
    }
    for (let i = 0; i < sessions; i++) {
      if (i % 2 === 0) {
        out.raw.push(await raw());
        out.agent.push(await session(true));
      } else {
        out.agent.push(await session(true));
        out.raw.push(await raw());
      }
    }
    return out;
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

export default async function bench(): Promise<void> {
  const load: Record<string, number[]> = { start: loadavg() };
  const turns = steps + 1;
  const rows: BenchRow[] = [];
  const stats: Record<string, unknown> = {};
  const keep = (key: string, label: string, side: Side, targetMs?: number) => {
    const raw = latencyStats(side.raw);
    const agent = latencyStats(side.agent);
    for (const q of ['p50', 'p90'] as const) {
      const perStep = (agent[q] - raw[q]) / turns;
      const held = q === 'p50' && targetMs !== undefined ? { target: `<= ${targetMs} ms`, met: perStep <= targetMs } : {};
      rows.push({ name: `${label}: overhead per step, ${q}`, unit: 'ms', value: perStep, baseline: raw[q] / turns, ...held });
    }
    rows.push({ name: `${label}: events stored per step`, unit: 'events', value: side.events / (side.agent.length * turns) });
    rows.push({ name: `${label}: bytes stored per step`, unit: 'B', value: side.bytes / (side.agent.length * turns) });
    stats[key] = { raw, agent, sessions: side.agent.length, turnsPerSession: turns };
    load[key] = loadavg();
  };
  await using memory = createInMemoryEventStore();
  keep('inMemory', 'in-memory store', await run(memory, 'mem'));
  await withPostgresEventStore('bench_agent', async (store) => {
    keep('postgres', 'postgres, awaited appends', await run(store, 'pg'), 2);
  });
  report('agent-step', rows, { sessions, steps, load, stats });
}
