// Outcome query benchmark: success rate and p95 duration per model over 1M outcome events on
// Postgres, through the store's `queryOutcomes` (SQL over the outcomes table) against the
// hand-written SQL a user would write over the events' JSON, in the same run.
// `pnpm --filter @buckley/bench bench outcome-query`.
import { loadavg } from 'node:os';
import { createPostgresEventStore } from '@buckley/postgres';
import { Pool } from 'pg';
import { type BenchRow, latencyStats, report } from './harness.js';

const url = process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const EVENTS = Number(process.env.BENCH_OUTCOME_EVENTS ?? 1_000_000);
const ROUNDS = 5;

export default async function outcomeQueryBench(): Promise<void> {
  const load: Record<string, number[]> = { start: loadavg() };
  const pool = new Pool({ connectionString: url, max: 4 });
  const schema = `bench_oq_${process.pid}`;
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    const store = await createPostgresEventStore({ pool, schema, partition: 'bench' });
    // Realistic end events: half model calls (usage and cost in data), half tool runs with some
    // output, 8 models, 20 tools, every outcome; written through the events table so the
    // store's trigger fills the outcomes table as appends do.
    const seedStart = performance.now();
    for (let from = 1; from <= EVENTS; from += 100_000) {
      await pool.query(
        `INSERT INTO ${schema}.events (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
         SELECT 'bench', 'session:' || (i / 100), i, gen_random_uuid(),
                CASE WHEN i % 2 = 0 THEN 'model.call.completed' ELSE 'tool.run.completed' END,
                CASE WHEN i % 2 = 0
                  THEN jsonb_build_object('callId', gen_random_uuid(), 'model', 'model-' || (i % 8), 'finishReason', 'stop',
                         'inputTokens', 1000 + i % 500, 'cachedInputTokens', i % 200, 'outputTokens', 200 + i % 50,
                         'costUsd', (i % 7) / 10000.0, 'durationMs', i % 3000, 'attempts', 1)
                  ELSE jsonb_build_object('operationId', gen_random_uuid(), 'name', 'tool-' || (i % 20), 'output', repeat('x', 200), 'durationMs', i % 3000)
                END,
                jsonb_build_object('sessionId', 's' || (i / 100), 'planId', 'p' || (i / 1000), 'taskId', 't' || (i / 10),
                  'modelId', 'model-' || (i % 8), 'toolName', CASE WHEN i % 2 = 1 THEN 'tool-' || (i % 20) END,
                  'outcome', (ARRAY['success','success','success','success','failure','timeout','cancelled','denied'])[1 + (i * 7) % 8],
                  'durationMs', (i * 37) % 3000, 'attempt', 1, 'traceId', md5(i::text), 'spanId', substr(md5(i::text), 1, 16)),
                now() - make_interval(secs => i)
           FROM generate_series($1::int, $2::int) AS i`,
        [from, Math.min(EVENTS, from + 99_999)],
      );
    }
    await pool.query(`VACUUM ANALYZE ${schema}.events`);
    await pool.query(`VACUUM ANALYZE ${schema}.outcomes`);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    load.afterSeed = loadavg();

    const query = { filter: { typePrefix: 'model.call.' }, groupBy: ['modelId' as const] };
    const raw = `SELECT metadata->>'modelId' AS model, count(*) AS runs,
                        count(*) FILTER (WHERE metadata->>'outcome' = 'success')::float8 / count(*) AS success_rate,
                        percentile_cont(0.95) WITHIN GROUP (ORDER BY (metadata->>'durationMs')::float8) AS p95
                   FROM ${schema}.events
                  WHERE partition = 'bench' AND type LIKE 'model.call.%' AND metadata ? 'outcome'
                  GROUP BY 1 ORDER BY 1`;
    const storeTimes: number[] = [];
    const rawTimes: number[] = [];
    let storeRows: Awaited<ReturnType<typeof store.queryOutcomes>> = [];
    let rawRows: Array<{ model: string; runs: string; success_rate: number; p95: number }> = [];
    // Alternate, so both see the same load and cache state.
    for (let round = 0; round < ROUNDS; round++) {
      let start = performance.now();
      storeRows = await store.queryOutcomes(query);
      storeTimes.push(performance.now() - start);
      start = performance.now();
      rawRows = (await pool.query(raw)).rows;
      rawTimes.push(performance.now() - start);
    }
    load.afterQueries = loadavg();
    // Both must say the same thing, or the comparison means nothing.
    const agree =
      storeRows.length === rawRows.length &&
      storeRows.every((r, i) => r.group.modelId === rawRows[i]!.model && r.runs === Number(rawRows[i]!.runs) && r.p95DurationMs === rawRows[i]!.p95);
    if (!agree)
      throw new Error(`queryOutcomes and the raw SQL disagree: ${JSON.stringify({ storeRows: storeRows.slice(0, 2), rawRows: rawRows.slice(0, 2) })}`);
    const s = latencyStats(storeTimes);
    const r = latencyStats(rawTimes);
    const rows: BenchRow[] = [
      {
        name: `success rate + p95 duration per model, ${EVENTS.toLocaleString('en-US')} events (median of ${ROUNDS})`,
        unit: 'ms',
        value: s.p50,
        baseline: r.p50,
        ratio: r.p50 / s.p50,
        ratioNote: 'raw JSON SQL time / store time',
        target: '< 1000 ms',
        met: s.p50 < 1000,
      },
      { name: 'same, slowest of the rounds', unit: 'ms', value: s.max, baseline: r.max },
      { name: 'seeding (events + trigger-filled outcomes)', unit: 's', value: seedSeconds },
    ];
    report('outcome-query', rows, { load, events: EVENTS, storeTimes, rawTimes, sample: storeRows.slice(0, 2) });
    await store.close();
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
  }
}
