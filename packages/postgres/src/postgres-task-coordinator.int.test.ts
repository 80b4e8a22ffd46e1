import { type TaskCoordinator, runTaskWorker, taskStreamId } from '@buckley/coordination';
import { describeTaskCoordinatorConformance } from '@buckley/testing';
import { type TestPostgres, createTestPGlite, createTestPostgres } from '@buckley/testing/postgres';
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPGliteEventStore, createPostgresEventStore, createPostgresTaskCoordinator, migrateEventStore, migrateTaskCoordinator } from './index.js';

let pgt: TestPostgres;
let pglite: Awaited<ReturnType<typeof createTestPGlite>>;
beforeAll(async () => {
  pgt = await createTestPostgres('tasks');
  pglite = await createTestPGlite();
});
afterAll(async () => {
  await pgt?.close();
  await pglite?.close();
});

describeTaskCoordinatorConformance({
  name: 'postgres',
  createStore: (testId) => createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition: testId, pollMs: 200 }),
  create: ({ store, clock, leaseMs, retry }) => createPostgresTaskCoordinator({ pool: pgt.pool, schema: pgt.schema, store, clock, leaseMs, retry }),
});

describeTaskCoordinatorConformance({
  name: 'pglite (embedded)',
  createStore: (testId) => createPGliteEventStore({ pglite, partition: testId, pollMs: 200 }),
  create: ({ store, clock, leaseMs, retry }) =>
    createPostgresTaskCoordinator({ db: new Kysely({ dialect: new PGliteDialect({ pglite }) }), store, clock, leaseMs, retry }),
});

describe('Postgres task coordinator across coordinators', () => {
  it('three coordinators on separate pools complete 150 tasks exactly once between them', async () => {
    const partition = `multi${Date.now().toString(36)}`;
    const pools = [pgt.newPool({ max: 4 }), pgt.newPool({ max: 4 }), pgt.newPool({ max: 4 })];
    const coordinators: TaskCoordinator[] = [];
    const stores = [];
    for (const pool of pools) {
      const store = await createPostgresEventStore({ pool, schema: pgt.schema, partition, pollMs: 200 });
      stores.push(store);
      coordinators.push(await createPostgresTaskCoordinator({ pool, schema: pgt.schema, store, leaseMs: 5_000, pollIntervalMs: 50 }));
    }
    try {
      const ids = Array.from({ length: 150 }, (_, i) => `m${i}`);
      await Promise.all(ids.map((id, i) => coordinators[i % 3]!.submit({ id, payload: { i } })));
      const handled = new Map<string, number>();
      const workers = coordinators.map((c, n) =>
        runTaskWorker(c, {
          workerId: `c${n}`,
          concurrency: 2,
          handler: (lease) => {
            handled.set(lease.taskId, (handled.get(lease.taskId) ?? 0) + 1);
            return { by: n };
          },
        }),
      );
      const deadline = Date.now() + 60_000;
      while ((await coordinators[0]!.list({ status: 'completed', limit: 1000 })).length < ids.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await Promise.all(workers.map((w) => w.close()));
      expect(workers.reduce((n, w) => n + w.completed, 0)).toBe(ids.length);
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
      const completed = await pgt.pool.query<{ stream_id: string; n: string }>(
        `SELECT stream_id, count(*) AS n FROM "${pgt.schema}".events WHERE partition = $1 AND type = 'coordinator.task.completed' GROUP BY stream_id`,
        [partition],
      );
      expect(completed.rows).toHaveLength(ids.length);
      expect(completed.rows.every((r) => r.n === '1')).toBe(true);
      expect(new Set(completed.rows.map((r) => r.stream_id))).toEqual(new Set(ids.map(taskStreamId)));
      expect(workers.map((w) => w.completed).filter((n) => n > 0).length).toBeGreaterThan(1);
    } finally {
      for (const c of coordinators) await c.close();
      for (const s of stores) await s.close();
    }
  }, 90_000);
});

describe('migrations beside other tenants', () => {
  it('succeed while other sessions create and drop their own schemas (kysely introspection would see the dropped ones)', async () => {
    // Its own pool: destroy() below ends it.
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: pgt.newPool({ max: 3 }) }) });
    const tag = `${process.pid}_${Date.now().toString(36)}`;
    let stop = false;
    let churned = 0;
    const churn = (async () => {
      while (!stop) {
        const other = sql.id(`t_churn_${tag}_${churned++}`);
        await sql`CREATE SCHEMA ${other}`.execute(db);
        await sql`CREATE TABLE ${other}.t (a int, b text)`.execute(db);
        await sql`DROP SCHEMA ${other} CASCADE`.execute(db);
      }
    })();
    const failures: unknown[] = [];
    try {
      // Before the fix, about 1 in 10 of these migrations failed with 3F000 on this machine.
      for (let k = 0; k < 30; k++) {
        const schema = `t_mig_${tag}_${k}`;
        try {
          const events = await migrateEventStore(db, { schema });
          const tasks = await migrateTaskCoordinator(db, { schema });
          expect(events.error).toBeUndefined();
          expect(tasks.results?.every((r) => r.status === 'Success')).toBe(true);
        } catch (error) {
          failures.push(error);
        } finally {
          await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(db);
        }
      }
    } finally {
      stop = true;
      await churn;
      await db.destroy();
    }
    expect(churned).toBeGreaterThan(10);
    expect(failures).toEqual([]);
  }, 120_000);
});
