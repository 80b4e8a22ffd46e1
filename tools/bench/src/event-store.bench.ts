// Event store benchmark: Buckley's Postgres and PGlite stores against the raw driver doing the
// same work in the same run. `pnpm --filter @buckley/bench bench event-store`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, NewEvent, StoredEvent } from '@buckley/coordination';
import { createPGliteEventStore, createPostgresEventStore } from '@buckley/postgres';
import { uuidv7 } from '@buckley/utils';
import { PGlite } from '@electric-sql/pglite';
import { Pool } from 'pg';
import { type BenchRow, latencyStats, report } from './harness.js';

const url = process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const WRITERS = 8;
const BATCH = 100;
const ROUNDS = 3;

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

const BARE = (table: string) => `CREATE TABLE ${table} (
  position bigserial PRIMARY KEY, stream_id text NOT NULL, version bigint NOT NULL, event_id uuid NOT NULL,
  type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL, occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, version), UNIQUE (event_id))`;

function insertRows(table: string, stream: string, fromVersion: number, n: number): { text: string; params: unknown[] } {
  const values: string[] = [];
  const params: unknown[] = [];
  const now = new Date().toISOString();
  const dataJson = JSON.stringify(data);
  const metaJson = JSON.stringify(metadata);
  for (let i = 0; i < n; i++) {
    const b = params.length;
    values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`);
    params.push(stream, fromVersion + i, uuidv7(), 'order.placed', dataJson, metaJson, now);
  }
  return {
    text: `INSERT INTO ${table} (stream_id, version, event_id, type, data, metadata, occurred_at) VALUES ${values.join(', ')}`,
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
  batchStore: number;
  batchRaw: number;
  singleStore: ReturnType<typeof latencyStats>;
  singleRaw: ReturnType<typeof latencyStats>;
}

/** Batched and single-event appends through the store and through raw SQL on the same database. */
async function appendFigures(label: string, store: EventStore, raw: Sql, table: string, scale: { batches: number; singles: number }): Promise<AppendFigures> {
  const tag = `${label.replaceAll(" ", "-")}-${Date.now().toString(36)}`;
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
  for (let round = 0; round < ROUNDS; round++) {
    const r = `${tag}-r${round}`;
    storeRates.push(
      await throughput(events, () =>
        inParallel(WRITERS, scale.batches, (w) => store.append(`batch-${r}-${w}`, Array.from({ length: BATCH }, event))),
      ),
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
  }
  const batchStore = median(storeRates);
  const batchRaw = median(rawRates);
  const pick = (rounds: number[][]) => rounds.map((l) => latencyStats(l)).toSorted((x, y) => x.p50 - y.p50)[Math.floor(rounds.length / 2)]!;
  const singleStore = pick(storeSingles);
  const singleRaw = pick(rawSingles);
  return { batchStore, batchRaw, singleStore, singleRaw };
}

function appendRows(label: string, f: AppendFigures): BenchRow[] {
  return [
    {
      name: `${label}: batched append (100/call, ${WRITERS} writers)`,
      unit: 'events/s',
      value: f.batchStore,
      baseline: f.batchRaw,
      ratio: f.batchStore / f.batchRaw,
      ratioNote: 'of raw multi-row INSERT',
      target: label === 'postgres' ? '>= 0.6 of raw' : undefined,
      met: label === 'postgres' ? f.batchStore / f.batchRaw >= 0.6 : undefined,
    },
    {
      name: `${label}: single-event append p50 (${WRITERS} writers)`,
      unit: 'ms',
      value: f.singleStore.p50,
      baseline: f.singleRaw.p50,
      ratio: f.singleStore.p50 / f.singleRaw.p50,
      ratioNote: 'x raw single-row INSERT',
      target: label === 'postgres' ? '<= 2x raw' : undefined,
      met: label === 'postgres' ? f.singleStore.p50 / f.singleRaw.p50 <= 2 : undefined,
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
    const f = await appendFigures('postgres', store, raw, `${schema}.bare_events`, { batches: 15, singles: 100 });
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
      `INSERT INTO ${schema}.bare_log SELECT position, stream_id, version, event_id, type, data, metadata, occurred_at, recorded_at
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
    for (const [label, dataDir] of [['pglite memory', undefined], ['pglite disk', join(dir, 'disk')]] as const) {
      const pglite = await PGlite.create(dataDir === undefined ? {} : { dataDir });
      await pglite.query(BARE('bare_events'));
      const store = await createPGliteEventStore({ pglite, partition: 'bench' });
      const f = await appendFigures(label, store, pglite, 'bare_events', { batches: 5, singles: 50 });
      rows.push(...appendRows(label, f));
      await store.close();
      await pglite.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report('event-store', rows, { postgres: version, url: url.replace(/\/\/[^@]*@/, '//'), writers: WRITERS, batch: BATCH });
}
