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
import { createPostgresEventStore } from '@buckley/postgres';
import { createSandbox } from '@buckley/sandbox';
import { createToolExecutor, createToolRegistry, defineTool } from '@buckley/tools';
import { Pool } from 'pg';
import { z } from 'zod';
import { type BenchRow, latencyStats, report } from './harness.js';

const url = process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const iterations = Number(process.env.BENCH_TOOL_CHAIN_ITERATIONS ?? 10_000);

const noop = defineTool({
  name: 'noop',
  description: 'Returns its input',
  input: z.object({ n: z.number().int() }),
  readOnly: true,
  handler: ({ n }) => ({ n }),
});

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
    // Alternating order, so drift in machine load hits both sides alike.
    for (let i = 0; i < count; i++) {
      if (i % 2 === 0) {
        await direct(i);
        await chain(i);
      } else {
        await chain(i);
        await direct(i);
      }
    }
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

function rows(label: string, pair: Pair, target?: number): BenchRow[] {
  const d = latencyStats(pair.direct);
  const c = latencyStats(pair.chain);
  const added = (c.p50 - d.p50) * 1000;
  return [
    {
      name: `${label}: chain added per call, p50`,
      unit: 'µs',
      value: added,
      baseline: d.p50 * 1000,
      ...(target !== undefined ? { target: `<= ${target} µs`, met: added <= target } : {}),
    },
    { name: `${label}: chain added per call, p90`, unit: 'µs', value: (c.p90 - d.p90) * 1000, baseline: d.p90 * 1000 },
    { name: `${label}: chain added per call, p99`, unit: 'µs', value: (c.p99 - d.p99) * 1000, baseline: d.p99 * 1000 },
  ];
}

export default async function bench(): Promise<void> {
  const load: Record<string, number[]> = { start: loadavg() };
  const all: BenchRow[] = [];
  const stats: Record<string, unknown> = {};
  {
    await using store = createInMemoryEventStore();
    const pair = await run(store, 'awaited', iterations);
    const stored = (await store.read('session:bench-chain')).length;
    if (stored !== 4 * (iterations + Math.min(1_000, iterations))) throw new Error(`in-memory: ${stored} events stored, expected 4 per call`);
    all.push(...rows('in-memory store, no-op tool', pair, 100));
    stats.inMemory = { direct: latencyStats(pair.direct), chain: latencyStats(pair.chain) };
  }
  load.afterInMemory = loadavg();
  const pool = new Pool({ connectionString: url, max: 4 });
  const schema = `bench_tc_${process.pid}`;
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    const store = await createPostgresEventStore({ pool, schema, partition: 'bench' });
    const batched = await run(store, 'batched', iterations);
    all.push(...rows('postgres, batched writer, no-op tool', batched));
    stats.postgresBatched = { direct: latencyStats(batched.direct), chain: latencyStats(batched.chain) };
    load.afterBatched = loadavg();
    const awaitedN = Math.max(200, Math.floor(iterations / 10));
    const awaited = await run(store, 'awaited', awaitedN);
    all.push(...rows('postgres, awaited appends, no-op tool', awaited));
    stats.postgresAwaited = { direct: latencyStats(awaited.direct), chain: latencyStats(awaited.chain), iterations: awaitedN };
    const n = Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.events WHERE type LIKE 'tool.run.%'`)).rows[0].n);
    stats.postgresStored = n;
    await store.close();
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
  }
  load.end = loadavg();
  report('tool-chain', all, { iterations, load, stats });
}
