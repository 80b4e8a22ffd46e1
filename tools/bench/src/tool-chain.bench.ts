// Tool executor chain overhead: a no-op read-only tool called through createToolExecutor
// (validate -> approval -> sandbox context -> timeout -> retry -> size cap -> redaction ->
// tool.run.* telemetry: requested, approved, started, completed) against the same tool's run()
// called directly, interleaved in the same run. Stores: in-memory (awaited writes), Postgres
// with the recorder's batching writer, and Postgres awaited (four appends per call, for reference).
// The tool starts no process; the real sandbox is created and never used by it.
// Iterations: BENCH_TOOL_CHAIN_ITERATIONS (default 10,000; a tenth on Postgres awaited).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { defaultConfig } from '@buckley/config';
import { createInMemoryEventStore, type EventStore } from '@buckley/events';
import { createRecorder } from '@buckley/observability';
import { createSandbox } from '@buckley/sandbox';
import { createToolExecutor, createToolRegistry } from '@buckley/tools';
import { withPostgresEventStore } from './bench-postgres.js';
import { noopTool as noop } from './noop-tool.js';
import { type BenchRow, addedLatencyRows, interleaved, latencyStats, report } from './harness.js';

const iterations = Number(process.env.BENCH_TOOL_CHAIN_ITERATIONS ?? 10_000);

interface Pair {
  direct: number[];
  chain: number[];
}

async function run(store: EventStore, operationWrites: 'awaited' | 'batched', n: number): Promise<Pair> {
  const workspace = mkdtempSync('/var/tmp/bench-tool-chain-');
  const config = defaultConfig();
  await using sandbox = createSandbox({ config: config.sandbox, workspace });
  await using recorder = createRecorder({ store, operationWrites });
  await using executor = createToolExecutor({ registry: createToolRegistry({ builtins: [noop] }), sandbox, recorder, config, workspace });
  const signal = new AbortController().signal;
  const attribution = { sessionId: 'bench-chain', agentId: 'a1', taskId: 't1' };
  const measure = async (count: number, offset: number): Promise<Pair> => {
    const out: Pair = { direct: [], chain: [] };
    const direct = async (i: number) => {
      const start = performance.now();
      const r = await noop.run({ n: i }, { signal, callId: `d_${i}` });
      out.direct.push(performance.now() - start);
      if (!r.ok) throw new Error('direct call failed');
    };
    const chain = async (i: number) => {
      const start = performance.now();
      const r = await executor.execute({ id: `call_${offset + i}`, name: 'noop', arguments: `{"n":${i}}` }, { attribution });
      out.chain.push(performance.now() - start);
      if (!r.ok) throw new Error(`chain call failed: ${JSON.stringify(r)}`);
    };
    await interleaved(count, direct, chain);
    return out;
  };
  try {
    await measure(Math.min(1_000, n), 1_000_000); // warm-up
    const pair = await measure(n, 0);
    await recorder.flush();
    return pair;
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

const rows = (label: string, pair: Pair, target?: number): BenchRow[] => addedLatencyRows(`${label}: chain added per call`, pair.direct, pair.chain, target);

export default async function bench(): Promise<void> {
  const load: Record<string, number[]> = { start: loadavg() };
  const all: BenchRow[] = [];
  const stats: Record<string, unknown> = {};
  const keep = (key: string, label: string, pair: Pair, target?: number) => {
    all.push(...rows(label, pair, target));
    stats[key] = { direct: latencyStats(pair.direct), chain: latencyStats(pair.chain), iterations: pair.direct.length };
    load[key] = loadavg();
  };
  await using memory = createInMemoryEventStore();
  keep('inMemory', 'in-memory store, no-op tool', await run(memory, 'awaited', iterations), 100);
  const stored = (await memory.read('session:bench-chain')).length;
  if (stored !== 4 * (iterations + Math.min(1_000, iterations))) throw new Error(`in-memory: ${stored} events stored, expected 4 per call`);
  await withPostgresEventStore('bench_tc', async (store, pool, schema) => {
    keep('postgresBatched', 'postgres, batched writer, no-op tool', await run(store, 'batched', iterations));
    keep('postgresAwaited', 'postgres, awaited appends, no-op tool', await run(store, 'awaited', Math.max(200, Math.floor(iterations / 10))));
    stats.postgresStored = Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.events WHERE type LIKE 'tool.run.%'`)).rows[0].n);
  });
  report('tool-chain', all, { iterations, load, stats });
}
