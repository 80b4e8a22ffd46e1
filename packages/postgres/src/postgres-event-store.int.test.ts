import {
  EventStoreUnavailableError,
  InvalidEventStoreOptionError,
  type StoredEvent,
  eventPosition,
  isEventStoreError,
  isEventStoreUnavailableError,
} from '@buckley/events';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeEventStoreConformance, describeOutcomeQueryConformance, expectNoSecret, waitUntil } from '@buckley/testing';
import { type TestPostgres, createTestPostgres } from '@buckley/testing/postgres';
import { uuidv7 } from '@buckley/utils';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresCheckpointStore, createPostgresEventStore, migrateEventStore } from './index.js';

// Every Postgres test of this package lives in this one file on purpose: the gap-safety test
// holds a transaction open, which (correctly) holds back every global reader of the cluster,
// so it must not run beside the conformance suite.

let pgt: TestPostgres;
beforeAll(async () => {
  pgt = await createTestPostgres('store');
});
afterAll(() => pgt?.close());

describeEventStoreConformance({
  name: 'postgres',
  create: (options) => createPostgresEventStore({ ...options, pool: pgt.pool, schema: pgt.schema, pollMs: 200 }),
  openTransaction: async (options) => {
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: pgt.pool }) });
    const trx = await db.startTransaction().execute();
    let ended = false;
    const end = async (how: 'commit' | 'rollback') => {
      if (ended) return;
      ended = true;
      await (how === 'commit' ? trx.commit() : trx.rollback()).execute();
    };
    const store = await createPostgresEventStore({ ...options, db: trx, schema: pgt.schema, migrate: false });
    return {
      store,
      commit: () => end('commit'),
      rollback: () => end('rollback'),
      [Symbol.asyncDispose]: async () => {
        await end('rollback');
        await store.close();
      },
    };
  },
});

describeOutcomeQueryConformance({
  name: 'postgres',
  create: (options) => createPostgresEventStore({ ...options, pool: pgt.pool, schema: pgt.schema }),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Shaped like a GitHub token, planted in stream ids.
const secretToken = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2'].join('_');

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

describe('Postgres event store: gap safety', () => {
  it('a global subscriber waits for a transaction that took a lower position, then gets everything in order', async () => {
    const partition = 'gap';
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition, pollMs: 50 });
    const got: StoredEvent[] = [];
    await using sub = await store.subscribe({ handler: (e) => void got.push(e) });
    const first = await store.append('gap:before', [{ type: 'test.before', data: {} }]);
    await until(() => got.length === 1);

    // An appender that takes its position now and commits last.
    const held = await pgt.pool.connect();
    try {
      await held.query('BEGIN');
      const heldId = uuidv7();
      const { rows } = await held.query<{ position: string }>(
        `SELECT "position" FROM "${pgt.schema}".append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)`,
        [partition, ['gap:held'], [-1], [1], [1], [heldId], ['test.held'], '[{}]', '[{}]', [new Date().toISOString()]],
      );
      const heldPosition = BigInt(rows[0]!.position);

      const later: StoredEvent[] = [];
      for (let i = 0; i < 5; i++) later.push(...(await store.append(`gap:later${i % 2}`, [{ type: 'test.later', data: { i } }])));
      expect(later.every((e) => BigInt(eventPosition(e.position)) > heldPosition)).toBe(true);
      // Each carries the horizon suffix: the held transaction was open when it committed.
      expect(later.every((e) => e.position !== eventPosition(e.position))).toBe(true);

      await sleep(400);
      // Committed later events with higher positions are visible to plain SELECTs, but the
      // log may not pass the open transaction: nothing after `first` is delivered or read.
      expect(got.map((e) => e.id)).toEqual(first.map((e) => e.id));
      expect((await store.readAll()).map((e) => e.id)).toEqual(first.map((e) => e.id));
      expect(await store.read('gap:later0')).toHaveLength(3);

      await held.query('COMMIT');
      await until(() => got.length === 7);
      expect(got.map((e) => e.type)).toEqual(['test.before', 'test.held', ...later.map(() => 'test.later')]);
      expect(got[1]!.id).toBe(heldId);
      expect(got.slice(2).map((e) => e.id)).toEqual(later.map((e) => e.id));
      expect((await store.readAll()).map((e) => e.id)).toEqual(got.map((e) => e.id));
      // A reader resuming from any delivered position misses nothing.
      for (const [i, e] of got.entries()) {
        expect((await store.readAll({ after: e.position })).map((x) => x.id)).toEqual(got.slice(i + 1).map((x) => x.id));
      }
    } finally {
      await held.query('ROLLBACK').catch(() => undefined);
      held.release();
    }
    void sub;
  });
});

describe("Postgres event store: appends inside the caller's transaction", () => {
  const versionsInLog = async (store: Awaited<ReturnType<typeof createPostgresEventStore>>, streamId: string) =>
    (await store.readAll({ limit: 1000 })).filter((e) => e.streamId === streamId).map((e) => e.version);

  it('are refused once the transaction wrote before appending, so a stream never comes out of the log out of order', async () => {
    const partition = 'trx-refused';
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition, pollMs: 50 });
    await pgt.pool.query(`CREATE TABLE IF NOT EXISTS "${pgt.schema}".domain_rows (id text PRIMARY KEY)`);
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: pgt.pool }) });
    const got: StoredEvent[] = [];
    await using sub = await store.subscribe({ handler: (e) => void got.push(e) });
    // The stream id holds a planted secret: the error keeps it for code, out of its message and output.
    const shared = `shared:${secretToken}`;
    const refused = await db
      .transaction()
      .execute(async (trx) => {
        // The domain write gives the transaction its id; then another client appends and commits.
        await sql`INSERT INTO ${sql.id(pgt.schema, 'domain_rows')} VALUES ('refused')`.execute(trx);
        await store.append(shared, [{ type: 'test.other', data: {} }]);
        const inTrx = await createPostgresEventStore({ db: trx, schema: pgt.schema, partition, migrate: false });
        await inTrx.append(shared, [{ type: 'test.outbox', data: {} }]);
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isEventStoreError(refused)).toBe(true);
    expect((refused as { code: string }).code).toBe('INVALID_EVENT_STORE_OPTION');
    expect((refused as { option: string }).option).toBe('db');
    expect((refused as Error).message).toContain('db (a transaction that wrote before this append) is invalid');
    expectNoSecret(refused, secretToken);
    // The whole transaction rolled back: no domain row, only the other client's event.
    expect((await pgt.pool.query(`SELECT id FROM "${pgt.schema}".domain_rows WHERE id = 'refused'`)).rows).toEqual([]);
    expect(await versionsInLog(store, shared)).toEqual([1]);
    await until(() => got.length === 1);
    expect(got.map((e) => e.type)).toEqual(['test.other']);
    // Not destroyed: that would end pgt's pool.
    void sub;
  });

  it('keep per-stream order in the global log when the transaction appends before its other writes', async () => {
    const partition = 'trx-first';
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition, pollMs: 50 });
    await pgt.pool.query(`CREATE TABLE IF NOT EXISTS "${pgt.schema}".domain_rows (id text PRIMARY KEY)`);
    await store.append('shared', [{ type: 'test.before', data: {} }]);
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: pgt.pool }) });
    const got: StoredEvent[] = [];
    await using sub = await store.subscribe({ handler: (e) => void got.push(e) });
    let concurrent: Promise<StoredEvent[]> | undefined;
    await db.transaction().execute(async (trx) => {
      const inTrx = await createPostgresEventStore({ db: trx, schema: pgt.schema, partition, migrate: false });
      await inTrx.append('shared', [{ type: 'test.outbox', data: { n: 1 } }]);
      // Another client's append to the stream waits for this transaction's stream lock.
      concurrent = store.append('shared', [{ type: 'test.other', data: {} }]);
      await sleep(200);
      await sql`INSERT INTO ${sql.id(pgt.schema, 'domain_rows')} VALUES ('first')`.execute(trx);
      // A stream this transaction already holds may be appended to again after the write.
      await inTrx.append('shared', [{ type: 'test.outbox', data: { n: 2 } }]);
      // The store's wake-up must not turn the caller's commit asynchronous.
      await sleep(20);
      expect((await sql<{ s: string }>`SELECT current_setting('synchronous_commit') AS s`.execute(trx)).rows[0]!.s).toBe('on');
    });
    const other = await concurrent!;
    expect(other[0]!.version).toBe(4);
    expect(await versionsInLog(store, 'shared')).toEqual([1, 2, 3, 4]);
    await until(() => got.length === 4);
    expect(got.map((e) => e.version)).toEqual([1, 2, 3, 4]);
    expect((await pgt.pool.query(`SELECT id FROM "${pgt.schema}".domain_rows WHERE id = 'first'`)).rows).toEqual([{ id: 'first' }]);
    // Not destroyed: that would end pgt's pool.
    void sub;
  });
});

describe('Postgres event store: faults', () => {
  it('a backend terminated mid-append rejects with a retryable error, leaves nothing half-written, and the next append succeeds', async () => {
    const pool = pgt.newPool({ application_name: 'buckley-fault-append', max: 4 });
    await using store = await createPostgresEventStore({ pool, schema: pgt.schema, partition: 'fault-append' });
    await store.append('b:stream', [{ type: 'test.b', data: {} }]);
    // Block the append after it has inserted the events of "a:stream" but not yet b's: another
    // transaction holds an uncommitted row at b's next version, so the insert waits on it.
    const blocker = await pgt.pool.connect();
    const admin = await pgt.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO "${pgt.schema}".events (partition, stream_id, version, event_id, type, data, occurred_at)
         VALUES ('fault-append', 'b:stream', 2, gen_random_uuid(), 'test.blocker', '{}', now())`,
      );
      const appending = store.appendToStreams([
        {
          streamId: 'a:stream',
          events: [
            { type: 'test.a', data: {} },
            { type: 'test.a', data: {} },
          ],
        },
        { streamId: 'b:stream', events: [{ type: 'test.b', data: {} }] },
      ]);
      const outcome = appending.then(
        () => undefined,
        (error: unknown) => error,
      );
      let pid: number | undefined;
      await until(async () => {
        const { rows } = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'buckley-fault-append' AND wait_event_type = 'Lock'`,
        );
        pid = rows[0]?.pid;
        return pid !== undefined;
      });
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await outcome;
      expect(error).toBeInstanceOf(EventStoreUnavailableError);
      expect(isEventStoreUnavailableError(error)).toBe(true);
      expect((error as EventStoreUnavailableError).retryable).toBe(true);
      await blocker.query('ROLLBACK');
      expect(await store.read('a:stream')).toEqual([]);
      expect(await store.streamVersion('a:stream')).toBe(0);
      expect(await store.streamVersion('b:stream')).toBe(1);
      expect((await store.readAll()).map((e) => e.type)).toEqual(['test.b']);
      const retried = await store.appendToStreams([
        { streamId: 'a:stream', events: [{ type: 'test.a', data: {} }] },
        { streamId: 'b:stream', events: [{ type: 'test.b', data: {} }], expectedVersion: 1 },
      ]);
      expect(retried.map((events) => events.map((e) => e.version))).toEqual([[1], [2]]);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      admin.release();
    }
  });

  it('a live subscription whose connections drop resumes from its last position with nothing skipped or repeated', async () => {
    const pool = pgt.newPool({ application_name: 'buckley-fault-sub', max: 4 });
    const partition = 'fault-sub';
    await using reader = await createPostgresEventStore({ pool, schema: pgt.schema, partition, pollMs: 100 });
    await using writer = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition, migrate: false });
    const got: StoredEvent[] = [];
    const errors: unknown[] = [];
    await using sub = await reader.subscribe({ handler: (e) => void got.push(e), onError: (e) => void errors.push(e) });
    for (let i = 0; i < 5; i++) await writer.append(`s${i % 2}`, [{ type: 'test.before', data: { i } }]);
    await until(() => got.length === 5);
    const terminate = async () => {
      const { rows } = await pgt.pool.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'buckley-fault-sub'`,
      );
      return rows[0]!.n;
    };
    expect(await terminate()).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) await writer.append(`s${i % 2}`, [{ type: 'test.after', data: { i } }]);
    await until(() => got.length >= 10);
    // Drop again while it is live, then write more.
    await terminate();
    for (let i = 0; i < 5; i++) await writer.append(`s${i % 2}`, [{ type: 'test.again', data: { i } }]);
    await until(() => got.length >= 15);
    await sleep(300);
    const log = await writer.readAll();
    expect(log).toHaveLength(15);
    expect(got.map((e) => e.id)).toEqual(log.map((e) => e.id));
    void sub;
  });
});

describe('Postgres event store: migrations', () => {
  it('are safe from two processes at once', async () => {
    const schema = `${pgt.schema}_proc`;
    const url = process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    // Both children start their migrations at this moment, well after both have loaded.
    const startAt = String(Date.now() + 4000);
    const child = () =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
        const proc = spawn(
          process.execPath,
          ['--conditions=@buckley/source', '--import', 'tsx', fileURLToPath(new URL('fixtures/migrate-process.ts', import.meta.url)), url, schema, startAt],
          // From the package directory, where `tsx` (a dev dependency) resolves.
          { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
        );
        let out = '';
        let err = '';
        proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        proc.on('error', reject);
        proc.on('close', (code) => resolve({ code, out, err }));
      });
    try {
      const results = await Promise.all([child(), child()]);
      for (const r of results) expect({ code: r.code, stderr: r.code === 0 ? '' : r.err }).toEqual({ code: 0, stderr: '' });
      const applied = results.flatMap((r) => JSON.parse(r.out) as string[]);
      // Each migration ran exactly once, in one process or the other.
      expect(applied.toSorted()).toEqual([
        '2026-11-24-001-event-store',
        '2026-11-24-002-lean-append',
        '2026-12-02-003-append-after-write',
        '2026-12-02-004-outcomes',
      ]);
      await using store = await createPostgresEventStore({ pool: pgt.pool, schema, migrate: false });
      expect((await store.append('m', [{ type: 'test.ok', data: {} }]))[0]!.version).toBe(1);
    } finally {
      await pgt.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  }, 40_000);

  it('are idempotent and safe from two pools at once', async () => {
    const schema = `${pgt.schema}_mig`;
    const pools = [pgt.newPool(), pgt.newPool()];
    const dbs = pools.map((pool) => new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) }));
    try {
      const results = await Promise.all(dbs.map((db) => migrateEventStore(db, { schema })));
      const applied = results.flatMap((r) => r.results ?? []).filter((r) => r.status === 'Success');
      // Each migration ran exactly once, in one of the two pools.
      expect(applied.map((r) => r.migrationName).toSorted()).toEqual([
        '2026-11-24-001-event-store',
        '2026-11-24-002-lean-append',
        '2026-12-02-003-append-after-write',
        '2026-12-02-004-outcomes',
      ]);
      expect((await migrateEventStore(dbs[0]!, { schema })).results).toEqual([]);
      await using store = await createPostgresEventStore({ pool: pools[0], schema });
      expect((await store.append('m', [{ type: 'test.ok', data: {} }]))[0]!.version).toBe(1);
    } finally {
      await pgt.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('reject a schema name that is not a plain identifier', async () => {
    await expect(createPostgresEventStore({ pool: pgt.pool, schema: 'bad"name' })).rejects.toMatchObject({
      code: 'INVALID_EVENT_STORE_OPTION',
    });
  });
});

describe('Postgres event store: query plans', () => {
  it('serves the common readAll filters from their indexes', async () => {
    const partition = 'explain';
    await pgt.pool.query(
      `INSERT INTO "${pgt.schema}".events (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
       SELECT $1, 'stream-' || (g % 200), g / 200 + 1, gen_random_uuid(),
              (ARRAY['tool.run.started', 'tool.run.completed', 'model.call.completed', 'plan.updated'])[1 + g % 4],
              '{}'::jsonb,
              jsonb_build_object('sessionId', 'session-' || (g % 500), 'toolName', 'tool-' || (g % 40),
                                 'outcome', CASE WHEN g % 50 = 0 THEN 'failure' ELSE 'success' END),
              now() - make_interval(secs => g)
         FROM generate_series(1, 40000) AS g`,
      [partition],
    );
    await pgt.pool.query(`ANALYZE "${pgt.schema}".events`);
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition, migrate: false });
    const plans: Record<string, string[]> = {
      'no filter': await store.explainReadAll({ limit: 100 }),
      'after a position': await store.explainReadAll({ after: '20000', limit: 100 }),
      sessionId: await store.explainReadAll({ filter: { sessionId: 'session-7' } }),
      'typePrefix tool.run.': await store.explainReadAll({ filter: { typePrefix: 'tool.run.' }, limit: 100 }),
      'outcome failure': await store.explainReadAll({ filter: { outcome: 'failure' } }),
      toolName: await store.explainReadAll({ filter: { toolName: 'tool-3' } }),
    };
    for (const [name, plan] of Object.entries(plans)) console.log(`-- readAll ${name}\n${plan.join('\n')}\n`);
    const uses = (name: string, index: string) => expect(`${name}: ${plans[name]!.join('\n')}`).toContain(index);
    uses('no filter', 'events_log_order');
    uses('after a position', 'events_log_order');
    uses('sessionId', 'events_session');
    uses('outcome failure', 'events_outcome');
    uses('toolName', 'events_tool');
    for (const plan of Object.values(plans)) expect(plan.join('\n')).not.toMatch(/Seq Scan on events/);
  });

  it('serves the common outcome-query filters from the outcome indexes on 100k events', async () => {
    const partition = 'explain-outcomes';
    // Through the events table, so the trigger fills the outcomes table as appends do.
    await pgt.pool.query(
      `INSERT INTO "${pgt.schema}".events (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
       SELECT $1, 'stream-' || (g % 500), g / 500 + 1, gen_random_uuid(),
              CASE WHEN g % 2 = 0 THEN 'model.call.completed' ELSE 'tool.run.completed' END,
              jsonb_build_object('inputTokens', g % 4000, 'outputTokens', g % 300, 'costUsd', (g % 9) / 10000.0),
              jsonb_build_object('sessionId', 'session-' || (g % 500), 'planId', 'plan-' || (g % 300), 'taskId', 'task-' || (g % 5000),
                                 'experimentId', 'exp-' || (g % 60), 'modelId', 'model-' || (g % 40), 'toolName', 'tool-' || (g % 40),
                                 'outcome', CASE WHEN g % 50 = 0 THEN 'failure' ELSE 'success' END, 'durationMs', g % 3000),
              now() - make_interval(secs => g)
         FROM generate_series(1, 100000) AS g`,
      [partition],
    );
    await pgt.pool.query(`ANALYZE "${pgt.schema}".outcomes`);
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition, migrate: false });
    const plans: Record<string, string[]> = {
      modelId: await store.explainOutcomes({ filter: { modelId: 'model-7' } }),
      toolName: await store.explainOutcomes({ filter: { toolName: 'tool-3' }, groupBy: ['planId'] }),
      planId: await store.explainOutcomes({ filter: { planId: 'plan-12' }, groupBy: ['modelId'] }),
      experimentId: await store.explainOutcomes({ filter: { experimentId: 'exp-5' }, groupBy: ['modelId'] }),
      sessionId: await store.explainOutcomes({ filter: { sessionId: 'session-9' } }),
      taskId: await store.explainOutcomes({ filter: { taskId: 'task-77' } }),
      'outcome failure': await store.explainOutcomes({ filter: { outcome: 'failure' }, groupBy: ['toolName'] }),
    };
    for (const [name, plan] of Object.entries(plans)) console.log(`-- outcomes ${name}\n${plan.join('\n')}\n`);
    const uses = (name: string, index: string) => expect(`${name}: ${plans[name]!.join('\n')}`).toContain(index);
    uses('modelId', 'outcomes_model');
    uses('toolName', 'outcomes_tool');
    uses('planId', 'outcomes_plan');
    uses('experimentId', 'outcomes_experiment');
    uses('sessionId', 'outcomes_session');
    uses('taskId', 'outcomes_task');
    uses('outcome failure', 'outcomes_outcome');
    for (const plan of Object.values(plans)) expect(plan.join('\n')).not.toMatch(/Seq Scan on outcomes/);
    const [row] = await store.queryOutcomes({ filter: { modelId: 'model-7' } });
    expect(row).toMatchObject({ runs: 2500, timedRuns: 2500, outcomes: { success: 2500 } });
  });
});

describe('Postgres event store: caught-up subscriptions share their reads', () => {
  /** The test pool, counting the log reads (`readAll`'s query) the store sends through it. */
  function countingPool(): { pool: { connect(): Promise<PoolClient> }; logReads: () => number } {
    const pool = pgt.newPool({ max: 8 });
    const counted = new WeakSet<PoolClient>();
    let logReads = 0;
    const logRead = new RegExp(`FROM "${pgt.schema}"\\."events" e\\b`);
    return {
      pool: {
        connect: async () => {
          const client = await pool.connect();
          if (!counted.has(client)) {
            counted.add(client);
            const query = client.query.bind(client) as (...args: unknown[]) => unknown;
            client.query = ((...args: unknown[]) => {
              const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
              if (text !== undefined && logRead.test(text)) logReads++;
              return query(...args);
            }) as PoolClient['query'];
          }
          return client;
        },
      },
      logReads: () => logReads,
    };
  }

  it('100 live subscriptions cost about one read per append, and each still gets exactly its events in order', async () => {
    const partition = `shared-${uuidv7()}`;
    const { pool, logReads } = countingPool();
    // The poll stays on: an event becomes readable without a notification when an unrelated
    // transaction (another test file on this server) that was open as it committed ends.
    const pollMs = 500;
    await using store = await createPostgresEventStore({ pool, schema: pgt.schema, partition, pollMs });
    const received = Array.from({ length: 100 }, () => [] as StoredEvent[]);
    const subscriptions = await Promise.all(
      received.map((into, i) => store.subscribe({ filter: { typePrefix: i % 2 === 0 ? 'even.' : 'odd.' }, handler: (e) => void into.push(e) })),
    );
    const appended: StoredEvent[] = [];
    const before = logReads();
    const started = Date.now();
    for (let n = 0; n < 20; n++) {
      const [stored] = await store.append(`shared-${n % 3}`, [{ type: n % 2 === 0 ? 'even.tick' : 'odd.tick', data: { n } }]);
      appended.push(stored!);
      await waitUntil(() => received.every((r, i) => r.length === Math.floor(n / 2) + (i % 2 === 0 ? 1 : n % 2)), { message: `event ${n} delivered` });
    }
    const reads = logReads() - before;
    const polls = Math.ceil((Date.now() - started) / pollMs) + 1;
    for (const [i, events] of received.entries()) {
      const expected = appended.filter((e) => e.type.startsWith(i % 2 === 0 ? 'even.' : 'odd.'));
      expect(events.map((e) => e.id)).toEqual(expected.map((e) => e.id));
      expect(events.map((e) => e.data.n)).toEqual(expected.map((e) => e.data.n));
    }
    // Unshared, each append wakes all 100: at least 2 000 reads. Shared: a few per append and
    // filter (the read that finds the event, the one that finds nothing after it), plus a few
    // per filter for each poll.
    expect(reads).toBeGreaterThanOrEqual(20);
    expect(reads).toBeLessThan(20 * 2 * 4 + polls * 2 * 2);
    await Promise.all(subscriptions.map((s) => s.unsubscribe()));
  });

  it('a subscription that falls behind reads its own pages, then rejoins the shared reads', async () => {
    const partition = `shared-${uuidv7()}`;
    const { pool } = countingPool();
    await using store = await createPostgresEventStore({ pool, schema: pgt.schema, partition, pollMs: 50 });
    const fast: StoredEvent[] = [];
    const slow: StoredEvent[] = [];
    await using a = await store.subscribe({ handler: (e) => void fast.push(e) });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await using b = await store.subscribe({
      handler: async (e) => {
        if (slow.length === 0) await gate;
        slow.push(e);
      },
    });
    const appended = (await Promise.all(Array.from({ length: 30 }, (_, n) => store.append(`lag-${n % 4}`, [{ type: 'lag.tick', data: { n } }])))).flat();
    await waitUntil(() => fast.length === 30, { message: 'fast subscriber caught up' });
    release();
    await waitUntil(() => slow.length === 30, { message: 'slow subscriber caught up' });
    const later = await store.append('lag-0', [{ type: 'lag.tick', data: { n: 30 } }]);
    await waitUntil(() => fast.length === 31 && slow.length === 31, { message: 'both got the live event' });
    const order = (events: StoredEvent[]) => events.map((e) => e.id);
    const log = (await store.readAll({ limit: 100 })).map((e) => e.id);
    expect(order(fast)).toEqual(log);
    expect(order(slow)).toEqual(log);
    expect(new Set(log)).toEqual(new Set([...appended, ...later].map((e) => e.id)));
    expect(a.closed || b.closed).toBe(false);
  });
});

describe('Postgres store factories: options', () => {
  const schemaExists = async (schema: string) =>
    (await pgt.pool.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema])).rows.length > 0;

  it('refuse a migrate that is not a boolean, an unknown key and a pool or db of the wrong shape, before touching the database', async () => {
    const schema = `t_refused_${uuidv7().replaceAll('-', '').slice(-12)}`;
    const refusals: Array<[unknown, string, RegExp]> = [
      [{ pool: pgt.pool, schema, migrate: 'false' }, 'migrate', /^migrate \(a string of 5 characters\) is invalid, expected true or false/],
      [{ pool: pgt.pool, schema, migrate: 0 }, 'migrate', /^migrate \(a number\) is invalid/],
      [
        { pool: pgt.pool, schema, migrat: false },
        'migrat',
        /^migrat \(an unknown option\) is invalid, expected only the options partition, maxEventBytes, now, schema, migrate, pollMs, pool, db$/,
      ],
      [{ pool: pgt.pool, schema, dataDir: '/tmp/x' }, 'dataDir', /^dataDir \(an unknown option\)/],
      [{ pool: {}, schema }, 'pool', /^pool \(an object\) is invalid, expected a pg\.Pool/],
      [{ db: { query: () => undefined }, schema }, 'db', /^db \(an object\) is invalid, expected a Kysely/],
      [{ schema }, 'pool', /^pool \(undefined\) is invalid/],
      [null, 'options', /^options \(null\) is invalid, expected an object/],
    ];
    for (const [options, option, message] of refusals) {
      const error = await createPostgresEventStore(options as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidEventStoreOptionError);
      expect(error).toMatchObject({ code: 'INVALID_EVENT_STORE_OPTION', option });
      expect((error as Error).message).toMatch(message);
    }
    expect(await schemaExists(schema)).toBe(false);
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema, migrate: true });
    expect(await schemaExists(schema)).toBe(true);
    await store.close();
    await pgt.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  });

  it('the checkpoint store refuses the same way', async () => {
    const schema = `t_refused_${uuidv7().replaceAll('-', '').slice(-12)}`;
    const refusals: Array<[unknown, string]> = [
      [{ pool: pgt.pool, schema, migrate: 'yes' }, 'migrate'],
      [{ pool: pgt.pool, schema, pollMs: 5 }, 'pollMs'],
      [{ pool: pgt.pool, schema, partition: 'a b' }, 'partition'],
      [{ pool: { connect: 1 }, schema }, 'pool'],
      [{ schema }, 'pool'],
    ];
    for (const [options, option] of refusals) {
      const error = await createPostgresCheckpointStore(options as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidEventStoreOptionError);
      expect(error).toMatchObject({ option });
    }
    expect(await schemaExists(schema)).toBe(false);
  });
});
