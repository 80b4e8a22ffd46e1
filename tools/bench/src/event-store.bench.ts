// Event store benchmark: Buckley's Postgres and PGlite stores against the raw driver doing the
// same work in the same run. `pnpm --filter @buckley/bench bench event-store`.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, NewEvent, StoredEvent } from '@buckley/events';
import { createPGliteEventStore, createPostgresEventStore } from '@buckley/postgres';
import { uuidv7 } from '@buckley/utils';
import { PGlite } from '@electric-sql/pglite';
import { Pool } from 'pg';
import { type BenchRow, latencyStats, report } from './harness.js';

const url = process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const WRITERS = 8;
const BATCH = 100;
/** Store and raw alternate this many rounds on Postgres (fewer on PGlite, which is not the target). */
const ROUNDS = 5;

const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;

// The event shape of perf-baselines.md: ~200 bytes of data, ~145 bytes of metadata.
const data = {
  orderId: 'ord-000000000001',
  customer: { id: 'cus-42', tier: 'gold' },
  items: [
    { sku: 'sku-1', qty: 2, price: 1999 },
    { sku: 'sku-2', qty: 1, price: 4999 },
  ],
  total: 8997,
  currency: 'EUR',
};
const metadata = { sessionId: 'session-0001', toolName: 'shell', outcome: 'success' as const, correlationId: 'corr-0000000001' };
const event = (): NewEvent => ({ type: 'order.placed', data, metadata });

/** A minimal SQL surface both pg and PGlite offer. */
interface Sql {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * The baseline's "equivalent bare table": the store's columns with the same types and defaults
 * (including the transaction id), its primary key and its two unique keys (stream version and
 * event id, both guarantees of the contract), and none of its secondary indexes.
 */
const BARE = (table: string) => `CREATE TABLE ${table} (
  partition text NOT NULL, position bigint GENERATED ALWAYS AS IDENTITY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(), stream_id text NOT NULL,
  version bigint NOT NULL CHECK (version > 0), event_id uuid NOT NULL, type text COLLATE "C" NOT NULL,
  data jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partition, position), UNIQUE (partition, stream_id, version), UNIQUE (partition, event_id))`;

function insertRows(table: string, stream: string, fromVersion: number, n: number): { text: string; params: unknown[] } {
  const values: string[] = [];
  const params: unknown[] = [];
  const now = new Date().toISOString();
  const dataJson = JSON.stringify(data);
  const metaJson = JSON.stringify(metadata);
  for (let i = 0; i < n; i++) {
    const b = params.length;
    values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8})`);
    params.push('bench', stream, fromVersion + i, uuidv7(), 'order.placed', dataJson, metaJson, now);
  }
  return {
    text: `INSERT INTO ${table} (partition, stream_id, version, event_id, type, data, metadata, occurred_at) VALUES ${values.join(', ')}`,
    params,
  };
}

async function inParallel(writers: number, perWriter: number, fn: (writer: number, i: number) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        const start = performance.now();
        await fn(w, i);
        latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies;
}

async function throughput(events: number, run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return events / ((performance.now() - start) / 1000);
}

interface AppendFigures {
  /** Each round's store / raw figures, to show the spread behind the medians. */
  rounds: { batchRatio: number; singleP50Ratio: number; load1: number }[];
  batchStore: number;
  batchRaw: number;
  singleStore: ReturnType<typeof latencyStats>;
  singleRaw: ReturnType<typeof latencyStats>;
}

/** Batched and single-event appends through the store and through raw SQL on the same database. */
async function appendFigures(
  label: string,
  store: EventStore,
  raw: Sql,
  table: string,
  scale: { batches: number; singles: number; rounds: number },
): Promise<AppendFigures> {
  const tag = `${label.replaceAll(' ', '-')}-${Date.now().toString(36)}`;
  // Warm-up: plans, caches, connections.
  await inParallel(WRITERS, 3, (w, i) => store.append(`warm-${tag}-${w}`, Array.from({ length: BATCH }, event)).then(() => i));
  await inParallel(WRITERS, 3, (w, i) => {
    const q = insertRows(table, `warm-${tag}-${w}`, i * BATCH + 1, BATCH);
    return raw.query(q.text, q.params);
  });
  // Store and raw alternate round by round, so load from elsewhere on a shared machine hits
  // both alike; each figure is the median round.
  const events = WRITERS * scale.batches * BATCH;
  const storeRates: number[] = [];
  const rawRates: number[] = [];
  const storeSingles: number[][] = [];
  const rawSingles: number[][] = [];
  const rounds: AppendFigures['rounds'] = [];
  for (let round = 0; round < scale.rounds; round++) {
    const r = `${tag}-r${round}`;
    storeRates.push(
      await throughput(events, () => inParallel(WRITERS, scale.batches, (w) => store.append(`batch-${r}-${w}`, Array.from({ length: BATCH }, event)))),
    );
    rawRates.push(
      await throughput(events, () =>
        inParallel(WRITERS, scale.batches, (w, i) => {
          const q = insertRows(table, `batch-${r}-${w}`, i * BATCH + 1, BATCH);
          return raw.query(q.text, q.params);
        }),
      ),
    );
    storeSingles.push(await inParallel(WRITERS, scale.singles, (w) => store.append(`single-${r}-${w}`, [event()])));
    rawSingles.push(
      await inParallel(WRITERS, scale.singles, (w, i) => {
        const q = insertRows(table, `single-${r}-${w}`, i + 1, 1);
        return raw.query(q.text, q.params);
      }),
    );
    rounds.push({
      batchRatio: storeRates.at(-1)! / rawRates.at(-1)!,
      singleP50Ratio: latencyStats(storeSingles.at(-1)!).p50 / latencyStats(rawSingles.at(-1)!).p50,
      load1: loadavg()[0]!,
    });
  }
  const batchStore = median(storeRates);
  const batchRaw = median(rawRates);
  const pick = (rounds: number[][]) => rounds.map((l) => latencyStats(l)).toSorted((x, y) => x.p50 - y.p50)[Math.floor(rounds.length / 2)]!;
  const singleStore = pick(storeSingles);
  const singleRaw = pick(rawSingles);
  return { rounds, batchStore, batchRaw, singleStore, singleRaw };
}

function appendRows(label: string, f: AppendFigures): BenchRow[] {
  // Store and raw ran back to back in each round, under the same outside load, so each round's
  // ratio is the fair comparison; value and baseline are the median rounds of each.
  const batchRatio = median(f.rounds.map((r) => r.batchRatio));
  const singleRatio = median(f.rounds.map((r) => r.singleP50Ratio));
  return [
    {
      name: `${label}: batched append (100/call, ${WRITERS} writers)`,
      unit: 'events/s',
      value: f.batchStore,
      baseline: f.batchRaw,
      ratio: batchRatio,
      ratioNote: 'of raw multi-row INSERT, median of per-round ratios',
      target: label === 'postgres' ? '>= 0.6 of raw' : undefined,
      met: label === 'postgres' ? batchRatio >= 0.6 : undefined,
    },
    {
      name: `${label}: single-event append p50 (${WRITERS} writers)`,
      unit: 'ms',
      value: f.singleStore.p50,
      baseline: f.singleRaw.p50,
      ratio: singleRatio,
      ratioNote: 'x raw single-row INSERT, median of per-round ratios',
      target: label === 'postgres' ? '<= 2x raw' : undefined,
      met: label === 'postgres' ? singleRatio <= 2 : undefined,
    },
    {
      name: `${label}: single-event append p99 (${WRITERS} writers)`,
      unit: 'ms',
      value: f.singleStore.p99,
      baseline: f.singleRaw.p99,
      ratio: f.singleStore.p99 / f.singleRaw.p99,
      ratioNote: 'x raw',
    },
  ];
}

/** Time from calling append to a subscriber of another store (another pool) receiving it. */
async function liveLatency(writer: EventStore, reader: EventStore, samples: number): Promise<ReturnType<typeof latencyStats>> {
  const waiting = new Map<string, (e: StoredEvent) => void>();
  await using sub = await reader.subscribe({
    from: 'end',
    handler: (e) => {
      const stream = e.streamId;
      waiting.get(stream)?.(e);
    },
  });
  const out: number[] = [];
  for (let i = 0; i < samples + 20; i++) {
    const stream = `live-${i}`;
    const received = new Promise<void>((resolve) => waiting.set(stream, () => resolve()));
    const start = performance.now();
    await writer.append(stream, [event()]);
    await received;
    if (i >= 20) out.push(performance.now() - start);
    waiting.delete(stream);
  }
  void sub;
  return latencyStats(out);
}

/** Catch-up read of the whole log in pages of 1,000 through the store, and raw keyset pages. */
async function catchUp(store: EventStore, raw: Sql, table: string, expected: number): Promise<{ store: number; raw: number }> {
  const storeRate = await throughput(expected, async () => {
    let after: string | undefined;
    let n = 0;
    for (;;) {
      const page = await store.readAll({ after, limit: 1000 });
      if (page.length === 0) break;
      n += page.length;
      after = page.at(-1)!.position;
    }
    if (n !== expected) throw new Error(`catch-up read ${n} events, expected ${expected}`);
  });
  const rawRate = await throughput(expected, async () => {
    let after = 0;
    let n = 0;
    for (;;) {
      const { rows } = await raw.query(
        `SELECT position, stream_id, version, event_id, type, data, metadata, occurred_at, recorded_at FROM ${table} WHERE position > $1 ORDER BY position LIMIT 1000`,
        [after],
      );
      if (rows.length === 0) break;
      n += rows.length;
      after = Number((rows.at(-1) as { position: string }).position);
    }
    if (n < expected) throw new Error(`raw catch-up read ${n} rows, expected ${expected}`);
  });
  return { store: storeRate, raw: rawRate };
}

export default async function run(): Promise<void> {
  const rows: BenchRow[] = [];
  // The machine is shared: the 1/5/15-minute load averages (as `uptime` prints them) at the
  // start, after the Postgres figures and at the end go into the result file.
  const load: Record<string, number[]> = { start: loadavg() };
  const roundDetail: Record<string, AppendFigures['rounds']> = {};
  const schema = `bench_${process.pid}`;
  const pool = new Pool({ connectionString: url, max: WRITERS + 2 });
  const readerPool = new Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  readerPool.on('error', () => undefined);
  const raw: Sql = pool;
  const version = (await pool.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    await pool.query(BARE(`${schema}.bare_events`));
    const store = await createPostgresEventStore({ pool, schema, partition: 'bench' });
    const f = await appendFigures('postgres', store, raw, `${schema}.bare_events`, { batches: 15, singles: 100, rounds: ROUNDS });
    roundDetail.postgres = f.rounds;
    rows.push(...appendRows('postgres', f));

    const reader = await createPostgresEventStore({ pool: readerPool, schema, partition: 'bench', migrate: false });
    const live = await liveLatency(store, reader, 500);
    rows.push(
      { name: 'postgres: append -> live subscriber (other pool, NOTIFY) p50', unit: 'ms', value: live.p50 },
      { name: 'postgres: append -> live subscriber (other pool, NOTIFY) p99', unit: 'ms', value: live.p99, target: '< 50 ms', met: live.p99 < 50 },
    );
    await reader.close();

    // A 100k-event log of its own partition, written in batches, then read from the start.
    const logStore = await createPostgresEventStore({ pool, schema, partition: 'catchup', migrate: false });
    await inParallel(WRITERS, 125, (w) => logStore.append(`log-${w}`, Array.from({ length: BATCH }, event)));
    await pool.query(`CREATE TABLE ${schema}.bare_log AS SELECT * FROM ${schema}.bare_events WHERE false`);
    await pool.query(`ALTER TABLE ${schema}.bare_log ADD PRIMARY KEY (position)`);
    await pool.query(
      `INSERT INTO ${schema}.bare_log SELECT partition, position, transaction_id, stream_id, version, event_id, type, data, metadata, occurred_at, recorded_at
         FROM ${schema}.events WHERE partition = 'catchup'`,
    );
    await pool.query(`VACUUM ANALYZE ${schema}.events`);
    await pool.query(`VACUUM ANALYZE ${schema}.bare_log`);
    const read = await catchUp(logStore, raw, `${schema}.bare_log`, 100_000);
    rows.push({
      name: 'postgres: catch-up readAll of a 100k-event log (pages of 1,000)',
      unit: 'events/s',
      value: read.store,
      baseline: read.raw,
      ratio: read.store / read.raw,
      ratioNote: 'of raw keyset SELECT',
    });
    await logStore.close();
    await store.close();
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
    await readerPool.end();
  }

  load.afterPostgres = loadavg();
  // PGlite: cold start in this process (import + initdb + migrations), then the append figures
  // in memory and on disk, with raw SQL on the same instance as the baseline.
  const dir = mkdtempSync(join(tmpdir(), 'buckley-bench-pglite-'));
  try {
    let start = performance.now();
    const mem = await createPGliteEventStore({});
    const coldMem = performance.now() - start;
    start = performance.now();
    const disk = await createPGliteEventStore({ dataDir: join(dir, 'db') });
    const coldNewDir = performance.now() - start;
    await disk.close();
    start = performance.now();
    const reopened = await createPGliteEventStore({ dataDir: join(dir, 'db') });
    const coldExisting = performance.now() - start;
    await reopened.close();
    await mem.close();
    rows.push(
      { name: 'pglite: create store, in memory (initdb + migrate)', unit: 'ms', value: coldMem },
      { name: 'pglite: create store, new dataDir', unit: 'ms', value: coldNewDir },
      { name: 'pglite: open store, existing dataDir', unit: 'ms', value: coldExisting },
    );
    for (const [label, dataDir] of [
      ['pglite memory', undefined],
      ['pglite disk', join(dir, 'disk')],
    ] as const) {
      const pglite = await PGlite.create(dataDir === undefined ? {} : { dataDir });
      await pglite.query(BARE('bare_events'));
      const store = await createPGliteEventStore({ pglite, partition: 'bench' });
      const f = await appendFigures(label, store, pglite, 'bare_events', { batches: 5, singles: 50, rounds: 3 });
      roundDetail[label] = f.rounds;
      rows.push(...appendRows(label, f));
      await store.close();
      await pglite.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  load.end = loadavg();
  report('event-store', rows, { postgres: version, url: url.replace(/\/\/[^@]*@/, '//'), writers: WRITERS, batch: BATCH, load, rounds: roundDetail });
}
