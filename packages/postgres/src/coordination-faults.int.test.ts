import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { EventHeader, createEventDeduper, runTaskWorker, taskStreamId } from '@buckley/coordination';
import { connect } from '@nats-io/transport-node';
import { type TestPostgres, createTestPostgres } from '@buckley/testing/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresCheckpointStore, createPostgresEventStore, createPostgresTaskCoordinator } from './index.js';

const root = resolve(import.meta.dirname, '../../..');
// Node itself runs the fixture with tsx's loader, so the pid we kill is the worker (the tsx
// CLI would put a second process in between that survives a SIGKILL of the first).
const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
const fixture = join(import.meta.dirname, 'fixtures/coordinator-process.ts');
const natsUrl = process.env.BUCKLEY_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const children = new Set<ChildProcess>();

let pgt: TestPostgres;
beforeAll(async () => {
  pgt = await createTestPostgres('taskfaults');
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await pgt?.close();
});

interface Child {
  readonly process: ChildProcess;
  /** Resolves with the first stdout line starting with `prefix`. */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<void>;
}

function start(settings: Record<string, unknown>, script = fixture): Child {
  const child = spawn(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, script], {
    cwd: root,
    env: { ...process.env, BUCKLEY_FIXTURE: JSON.stringify({ url: pgt.url, schema: pgt.schema, ...settings }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters) w();
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    process: child,
    exited,
    line: (prefix, timeoutMs = 30_000) =>
      new Promise((res, rej) => {
        const check = () => {
          const hit = lines.find((l) => l.startsWith(prefix));
          if (hit !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            res(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`child did not print ${JSON.stringify(prefix)} within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then(() => setTimeout(() => rej(new Error(`child exited before printing ${JSON.stringify(prefix)}; stderr: ${stderr.slice(-2000)}`)), 50));
      }),
  };
}

async function openCoordinator(partition: string, leaseMs = 2_000) {
  const pool = pgt.newPool({ max: 4 });
  const store = await createPostgresEventStore({ pool, schema: pgt.schema, partition });
  const coordinator = await createPostgresTaskCoordinator({ pool, schema: pgt.schema, store, leaseMs, pollIntervalMs: 100 });
  return {
    store,
    coordinator,
    async [Symbol.asyncDispose]() {
      await coordinator.close();
      await store.close();
    },
  };
}

describe('task coordinator faults (real processes)', () => {
  it('a worker killed with SIGKILL while holding a lease: the task comes back after the lease and completes exactly once', async () => {
    const partition = 'sigkill';
    await using c = await openCoordinator(partition);
    await c.coordinator.submit({ id: 'victim', payload: { n: 1 } });
    const holder = start({ partition, workerId: 'doomed', mode: 'hold', leaseMs: 1_500 });
    expect(await holder.line('CLAIMED')).toBe('CLAIMED victim 1');
    // While the holder lives, it extends its lease: nobody else gets the task.
    await new Promise((r) => setTimeout(r, 1_800));
    expect(await c.coordinator.claim({ workerId: 'rescuer' })).toBeUndefined();
    holder.process.kill('SIGKILL');
    await holder.exited;
    let lease = await c.coordinator.claim({ workerId: 'rescuer' });
    const deadline = Date.now() + 10_000;
    while (!lease && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      lease = await c.coordinator.claim({ workerId: 'rescuer' });
    }
    expect(lease).toMatchObject({ taskId: 'victim', attempt: 2, workerId: 'rescuer' });
    await c.coordinator.complete(lease!, { rescued: true });
    const events = await c.store.read(taskStreamId('victim'));
    expect(events.map((e) => `${e.type.replace('coordinator.task.', '')}:${String(e.data.workerId ?? '')}`)).toEqual([
      'submitted:',
      'claimed:doomed',
      'failed:doomed',
      'claimed:rescuer',
      'completed:rescuer',
    ]);
    expect(events[2]!.data).toMatchObject({ reason: 'lease_expired' });
  }, 60_000);

  it('a worker killed with SIGKILL mid-batch: its running and its claimed-but-unstarted tasks are leased again and each completes exactly once', async () => {
    const partition = 'midbatch';
    await using c = await openCoordinator(partition);
    const ids = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
    for (const id of ids) await c.coordinator.submit({ id });
    // 2 handlers and 4 prefetched leases: the first round claims 6 tasks, 2 of them start.
    const doomed = start({ partition, workerId: 'doomed', mode: 'stall', leaseMs: 1_500, concurrency: 2, prefetch: 4 });
    await doomed.line('READY');
    await doomed.line('STARTED');
    const held = async () =>
      (
        await pgt.pool.query<{ task_id: string }>(
          `SELECT task_id FROM "${pgt.schema}".tasks WHERE partition = $1 AND status = 'claimed' AND worker_id = 'doomed' ORDER BY task_id`,
          [partition],
        )
      ).rows.map((r) => r.task_id);
    for (const until = Date.now() + 20_000; (await held()).length < 6 && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    const claimed = await held();
    expect(claimed).toHaveLength(6);
    // Only 2 handlers run, so at least 4 of the 6 leases are prefetched and not started. Past
    // the lease length they are all still held: prefetched leases are extended too.
    await new Promise((r) => setTimeout(r, 2_000));
    const probe = await c.coordinator.claim({ workerId: 'probe' });
    expect(claimed).not.toContain(probe!.taskId);
    await c.coordinator.complete(probe!, {});
    expect(await held()).toEqual(claimed);
    doomed.process.kill('SIGKILL');
    await doomed.exited;

    const ran: string[] = [];
    const rescuer = runTaskWorker(c.coordinator, {
      workerId: 'rescuer',
      concurrency: 3,
      prefetch: 2,
      leaseMs: 5_000,
      handler: (lease) => {
        ran.push(lease.taskId);
        return { attempt: lease.attempt };
      },
    });
    const count = async () =>
      Number(
        (await pgt.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${pgt.schema}".tasks WHERE partition = $1 AND status = 'completed'`, [partition]))
          .rows[0]!.n,
      );
    for (const until = Date.now() + 30_000; (await count()) < ids.length && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    await rescuer.close();
    expect(await count()).toBe(ids.length);
    expect(ran.toSorted()).toEqual(ids.filter((id) => id !== probe!.taskId).toSorted());
    const histories = new Map<string, string[]>();
    for (const id of ids) {
      const events = await c.store.read(taskStreamId(id));
      histories.set(
        id,
        events.map((e) => `${e.type.replace('coordinator.task.', '')}:${String(e.data.workerId ?? '')}${e.data.reason ? `:${String(e.data.reason)}` : ''}`),
      );
    }
    for (const id of ids) {
      const completed = histories.get(id)!.filter((h) => h.startsWith('completed:'));
      expect(completed).toEqual([`completed:${id === probe!.taskId ? 'probe' : 'rescuer'}`]);
    }
    // Every lease the dead worker held, running or prefetched, ran out and was claimed again.
    expect(claimed.map((id) => histories.get(id)!.slice(0, 4))).toEqual(
      claimed.map(() => ['submitted:', 'claimed:doomed', 'failed:doomed:lease_expired', 'claimed:rescuer']),
    );
  }, 90_000);

  it('three coordinator processes on one Postgres and one NATS complete 1,000 tasks exactly once, none lost or parked', async () => {
    const partition = 'three';
    const wakeSubject = `buckley.test.${pgt.schema}.wake`;
    await using c = await openCoordinator(partition);
    const workers = [0, 1, 2].map((n) => start({ partition, natsUrl, wakeSubject, workerId: `proc${n}`, mode: 'work', leaseMs: 10_000, concurrency: 2 }));
    await Promise.all(workers.map((w) => w.line('READY')));
    const ids = Array.from({ length: 1_000 }, (_, i) => `job-${i}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => c.coordinator.submit({ id, payload: { i } })));
    }
    const count = async (type: string) =>
      Number(
        (await pgt.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${pgt.schema}".events WHERE partition = $1 AND type = $2`, [partition, type])).rows[0]!
          .n,
      );
    const deadline = Date.now() + 120_000;
    while ((await count('coordinator.task.completed')) < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    for (const w of workers) w.process.kill('SIGTERM');
    const done = await Promise.all(workers.map((w) => w.line('DONE', 20_000)));
    const perProcess = done.map((l) => Number(l.split(' ')[1]));
    const perStream = await pgt.pool.query<{ stream_id: string; n: string }>(
      `SELECT stream_id, count(*) AS n FROM "${pgt.schema}".events WHERE partition = $1 AND type = 'coordinator.task.completed' GROUP BY stream_id`,
      [partition],
    );
    expect(perStream.rows).toHaveLength(ids.length);
    expect(perStream.rows.filter((r) => r.n !== '1')).toEqual([]);
    expect(new Set(perStream.rows.map((r) => r.stream_id))).toEqual(new Set(ids.map(taskStreamId)));
    expect(await count('coordinator.task.parked')).toBe(0);
    expect(perProcess.reduce((a, b) => a + b, 0)).toBe(ids.length);
    expect(perProcess.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect((await c.coordinator.list({ status: 'completed', limit: 2_000 })).length).toBe(ids.length);
  }, 180_000);
});

describe('outbox relay crash (real processes)', () => {
  it('a relay process killed with SIGKILL mid-stream: its successor resumes from the Postgres checkpoint and the deduped stream has every event once, in order', async () => {
    const partition = 'relaycrash';
    const prefix = `buckley_test_${pgt.schema}.events`;
    const pool = pgt.newPool({ max: 2 });
    await using store = await createPostgresEventStore({ pool, schema: pgt.schema, partition });
    await createPostgresCheckpointStore({ pool, schema: pgt.schema, partition });
    const total = 2_000;
    for (let i = 0; i < total; i += 100) {
      await store.append(
        `session:${i % 3}`,
        Array.from({ length: 100 }, (_, j) => ({ type: 'test.happened', data: { n: i + j } })),
      );
    }
    const nc = await connect({ servers: natsUrl });
    try {
      const dedupe = createEventDeduper();
      const unique: string[] = [];
      let received = 0;
      const sub = nc.subscribe(`${prefix}.>`, {
        callback: (_error, msg) => {
          received++;
          const id = msg.headers!.get(EventHeader.MsgId);
          if (dedupe.firstSeen(id)) unique.push(id);
        },
      });
      await nc.flush();
      const settings = { partition, natsUrl, prefix, batchDelayMs: 20 };
      const fixtureRelay = join(import.meta.dirname, 'fixtures/relay-process.ts');
      const first = start(settings, fixtureRelay);
      await first.line('READY');
      const deadline = Date.now() + 30_000;
      while (unique.length < 400 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      first.process.kill('SIGKILL');
      await first.exited;
      const atKill = unique.length;
      expect(atKill).toBeGreaterThanOrEqual(400);
      expect(atKill).toBeLessThan(total);
      const second = start({ ...settings, batchDelayMs: 0 }, fixtureRelay);
      await second.line('READY');
      await store.append('session:late', [{ type: 'test.happened', data: { n: total } }]);
      while (unique.length < total + 1 && Date.now() < deadline + 30_000) await new Promise((r) => setTimeout(r, 10));
      second.process.kill('SIGKILL');
      sub.unsubscribe();
      let log = await store.readAll({ limit: total + 10 });
      // A gap-safe global read may lag behind transactions still open elsewhere on the server.
      for (const until = Date.now() + 10_000; log.length < total + 1 && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 20));
        log = await store.readAll({ limit: total + 10 });
      }
      expect(unique).toEqual(log.map((e) => e.id));
      expect(received).toBeGreaterThanOrEqual(unique.length);
    } finally {
      await nc.close();
    }
  }, 90_000);
});
