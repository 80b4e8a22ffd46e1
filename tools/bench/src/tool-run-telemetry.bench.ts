// Tool-run telemetry overhead: one tool run recorded through the recorder's observe()
// (tool.run.started + tool.run.completed events, metrics, an execute_tool span, redaction of
// name, input and output) against the same handler called directly, interleaved in the same
// run. Stores: the in-memory store (awaited writes), Postgres with the batching writer
// (`operationWrites: 'batched'`, the high-rate path) and Postgres awaited (two appends per run,
// for reference). The handler is a realistic read_file (120 lines of a real source file, so
// redaction scans about 6 KB of output), and, in memory, a stat-like tool with a tiny output.
// Iterations: BENCH_TOOL_RUN_ITERATIONS (default 20,000 in memory; a tenth awaited on Postgres).
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInMemoryEventStore, type EventStore } from '@buckley/events';
import { createObservabilityMetrics, createRecorder, createTracing, type Recorder } from '@buckley/observability';
import { Registry } from 'prom-client';
import { withPostgresEventStore } from './bench-postgres.js';
import { type BenchRow, addedLatencyRows, interleaved, latencyStats, report } from './harness.js';

const iterations = Number(process.env.BENCH_TOOL_RUN_ITERATIONS ?? 20_000);
const source = readFileSync(join(import.meta.dirname, '../../../packages/observability/src/recorder.ts'), 'utf8').split('\n');

/** The tool: returns lines `start..end` of the file, as read_file does after its read. */
async function readFileTool(input: { path: string; start: number; end: number }): Promise<{ content: string; lines: number; truncated: boolean }> {
  const lines = source.slice(input.start - 1, input.end);
  return { content: lines.join('\n'), lines: lines.length, truncated: false };
}

/** A tool whose work and output are tiny: what remains is the fixed cost of the telemetry. */
async function statTool(input: { path: string; start: number; end: number }): Promise<{ size: number; exists: boolean }> {
  return { size: input.end - input.start, exists: true };
}

type Tool = (input: { path: string; start: number; end: number }) => Promise<unknown>;

const inputOf = (i: number) => ({ path: 'packages/observability/src/recorder.ts', start: 1 + (i % 50), end: 120 + (i % 50) });

interface Pair {
  bare: number[];
  observed: number[];
}

async function measure(recorder: Recorder, n: number, tool: Tool): Promise<Pair> {
  const out: Pair = { bare: [], observed: [] };
  const bare = async (i: number) => {
    const start = performance.now();
    await tool(inputOf(i));
    out.bare.push(performance.now() - start);
  };
  const observed = async (i: number) => {
    const input = inputOf(i);
    const start = performance.now();
    await recorder.context.run({ sessionId: `bench-${Math.floor(i / 100)}`, planId: 'p1', taskId: `t${i % 10}`, attempt: 1 }, () =>
      recorder.observe({ family: 'tool.run', name: tool.name, operationId: `call_${i}`, input }, () => tool(input)),
    );
    out.observed.push(performance.now() - start);
  };
  await interleaved(n, bare, observed);
  return out;
}

const rows = (label: string, pair: Pair, target?: number): BenchRow[] => addedLatencyRows(`${label}: added per tool run`, pair.bare, pair.observed, target);

async function run(store: EventStore, operationWrites: 'awaited' | 'batched', n: number, tool: Tool = readFileTool): Promise<Pair> {
  const registry = new Registry();
  await using tracing = createTracing({ otlpEndpoint: null });
  await using recorder = createRecorder({ store, metrics: createObservabilityMetrics({ registry }), tracer: tracing.tracer, operationWrites });
  await measure(recorder, Math.min(2_000, n), tool); // warm-up
  const pair = await measure(recorder, n, tool);
  await recorder.flush();
  return pair;
}

export default async function bench(): Promise<void> {
  const load: Record<string, number[]> = { start: loadavg() };
  const all: BenchRow[] = [];
  const stats: Record<string, unknown> = {};

  {
    await using store = createInMemoryEventStore();
    const pair = await run(store, 'awaited', iterations);
    const stored = (await store.readAll({ limit: 1, filter: { typePrefix: 'tool.run.' } })).length;
    if (stored === 0) throw new Error('in-memory: nothing stored');
    all.push(...rows('in-memory store, read_file (120 lines out)', pair, 50));
    stats.inMemory = { bare: latencyStats(pair.bare), observed: latencyStats(pair.observed) };
  }
  {
    await using store = createInMemoryEventStore();
    const pair = await run(store, 'awaited', iterations, statTool);
    all.push(...rows('in-memory store, stat tool (tiny output)', pair, 50));
    stats.inMemoryTiny = { bare: latencyStats(pair.bare), observed: latencyStats(pair.observed) };
  }
  load.afterInMemory = loadavg();

  await withPostgresEventStore('bench_tr', async (store, pool, schema) => {
    const batched = await run(store, 'batched', iterations);
    const n = Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.events WHERE type LIKE 'tool.run.%'`)).rows[0].n);
    // Warm-up and measured runs both write two events per run; all must be stored after flush().
    const expected = 2 * (Math.min(2_000, iterations) + iterations);
    if (n !== expected) throw new Error(`postgres batched: ${n} tool.run events stored, expected ${expected}`);
    all.push(...rows('postgres, batched writer, read_file', batched));
    stats.postgresBatched = { bare: latencyStats(batched.bare), observed: latencyStats(batched.observed), stored: n };
    load.afterBatched = loadavg();
    const awaitedN = Math.max(200, Math.floor(iterations / 10));
    const awaited = await run(store, 'awaited', awaitedN);
    all.push(...rows('postgres, awaited appends, read_file', awaited));
    stats.postgresAwaited = { bare: latencyStats(awaited.bare), observed: latencyStats(awaited.observed), iterations: awaitedN };
  });
  load.end = loadavg();
  report('tool-run-telemetry', all, { iterations, load, stats });
}
