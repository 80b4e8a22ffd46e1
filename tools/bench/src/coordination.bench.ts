// Coordination benchmarks: the outbox relay (Postgres commit -> NATS delivery), the task
// coordinator's CPU-free throughput (no-op handlers, embedded and distributed) beside a raw
// SKIP LOCKED queue, and its I/O-bound scale-out over 1, 2 and 3 worker processes.
// BENCH_COORDINATION_SKIP_RELAY=1 leaves the relay out (for quick runs, not for quoted figures). Uses BUCKLEY_TEST_POSTGRES_URL and
// BUCKLEY_TEST_NATS_URL with a private schema, stream and subject prefix, dropped afterwards.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type EventStore, createInMemoryEventStore } from '@buckley/events';
import { type TaskCoordinator, createBusTaskWakeup, createInMemoryTaskCoordinator, createOutboxRelay, runTaskWorker } from '@buckley/coordination';
import { createNatsBus, createNatsEventPublisher, ensureEventStream } from '@buckley/nats';
import { createPGliteEventStore, createPostgresCheckpointStore, createPostgresEventStore, createPostgresTaskCoordinator } from '@buckley/postgres';
import { type TestPostgres, createTestPGlite, createTestPostgres } from '@buckley/testing/postgres';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { Kysely, PGliteDialect } from 'kysely';
import type { Pool } from 'pg';
import { type BenchRow, type LatencyStats, latencyStats, report } from './harness.js';

const NATS_URL = process.env.BUCKLEY_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const RELAY_EVENTS = 5_000;
const LATENCY_EVENTS = 500;
const WORKERS = 4;
const HANDLER_MS = 20;
/** Leases each worker process claims ahead of its free handlers. */
const PREFETCH = Number(process.env.BENCH_COORDINATION_PREFETCH ?? 4);
const CPU_FREE_TASKS = Number(process.env.BENCH_COORDINATION_TASKS ?? 2_000);
const SCALE_TASKS_PER_PROCESS = Number(process.env.BENCH_COORDINATION_SCALE_TASKS ?? 1_000);
const tsx = join(import.meta.dirname, '..', 'node_modules', '.bin', 'tsx');
let scaleNotes: unknown = undefined;

const event = (n: number) => ({ type: 'bench.happened', data: { n, body: 'x'.repeat(160) } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not finish within ${timeoutMs} ms`);
    await sleep(1);
  }
}

export default async function run(): Promise<void> {
  const loadAtStart = loadavg();
  const rows: BenchRow[] = [];
  const pgt = await createTestPostgres('bench_coord', { max: 8 });
  const nc = await connect({ servers: NATS_URL, name: 'bench-coordination' });
  const suffix = Date.now().toString(36);
  const prefix = `bench_${suffix}.events`;
  const streamName = `BENCH_EVENTS_${suffix.toUpperCase()}`;
  const jsm = await jetstreamManager(nc);
  try {
    await ensureEventStream(nc, { name: streamName, subjectPrefix: prefix });

    if (process.env.BENCH_COORDINATION_SKIP_RELAY !== '1') {
      // ---- Outbox relay: Postgres commit -> JetStream ack -> core NATS delivery ----
      const store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition: 'relay', pollMs: 100 });
      const checkpoints = await createPostgresCheckpointStore({ pool: pgt.pool, schema: pgt.schema, partition: 'relay' });
      const arrivals = new Map<string, number>();
      const sub = nc.subscribe(`${prefix}.>`, {
        callback: (_err, msg) => {
          const id = msg.headers?.get('Nats-Msg-Id');
          if (id && !arrivals.has(id)) arrivals.set(id, performance.now());
        },
      });
      await nc.flush();
      const relay = await createOutboxRelay({
        store,
        checkpoints,
        publisher: createNatsEventPublisher({ connection: nc, subjectPrefix: prefix }),
        batchSize: 256,
      });
      // Throughput: appends of 100 events, 4 at a time, until RELAY_EVENTS are delivered.
      const t0 = performance.now();
      for (let i = 0; i < RELAY_EVENTS; i += 400) {
        await Promise.all(
          [0, 100, 200, 300].map((o) =>
            store.append(
              `order-${(i + o) % 100}`,
              Array.from({ length: 100 }, (_, j) => event(i + o + j)),
            ),
          ),
        );
      }
      await until(() => arrivals.size >= RELAY_EVENTS, 60_000, 'relay throughput');
      const relayRate = RELAY_EVENTS / ((performance.now() - t0) / 1000);
      // Latency: one event per append, paced, from append resolved (committed) to delivery.
      const committed = new Map<string, number>();
      for (let i = 0; i < LATENCY_EVENTS; i++) {
        const [stored] = await store.append(`lat-${i % 10}`, [event(i)]);
        committed.set(stored!.id, performance.now());
        await sleep(2);
      }
      await until(() => [...committed.keys()].every((id) => arrivals.has(id)), 30_000, 'relay latency');
      const relayLat = latencyStats([...committed].map(([id, at]) => arrivals.get(id)! - at));
      await relay.close();
      sub.unsubscribe();

      // Raw baseline: pg INSERT + COMMIT, then js.publish (a dual write without outbox), same shapes.
      await pgt.pool.query(`CREATE TABLE "${pgt.schema}".raw_events (id bigserial PRIMARY KEY, stream text, data jsonb)`);
      const js = jetstream(nc);
      const rawArrivals = new Map<string, number>();
      const rawSub = nc.subscribe(`${prefix}.raw.>`, {
        callback: (_err, msg) => {
          const id = msg.headers?.get('Nats-Msg-Id');
          if (id && !rawArrivals.has(id)) rawArrivals.set(id, performance.now());
        },
      });
      await nc.flush();
      const body = JSON.stringify(event(0));
      const r0 = performance.now();
      for (let i = 0; i < RELAY_EVENTS; i += 100) {
        const values = Array.from({ length: 100 }, (_, j) => `('order-${(i + j) % 100}', '${body}')`).join(',');
        await pgt.pool.query(`INSERT INTO "${pgt.schema}".raw_events (stream, data) VALUES ${values}`);
        await Promise.all(
          Array.from({ length: 100 }, (_, j) => {
            const h = headers();
            h.set('Nats-Msg-Id', `raw-${i + j}`);
            return js.publish(`${prefix}.raw.order`, body, { msgID: `raw-${i + j}`, headers: h });
          }),
        );
      }
      await until(() => rawArrivals.size >= RELAY_EVENTS, 60_000, 'raw throughput');
      const rawRate = RELAY_EVENTS / ((performance.now() - r0) / 1000);
      const rawCommitted = new Map<string, number>();
      for (let i = 0; i < LATENCY_EVENTS; i++) {
        await pgt.pool.query(`INSERT INTO "${pgt.schema}".raw_events (stream, data) VALUES ($1, $2)`, [`lat-${i % 10}`, body]);
        const id = `rawlat-${i}`;
        rawCommitted.set(id, performance.now());
        const h = headers();
        h.set('Nats-Msg-Id', id);
        await js.publish(`${prefix}.raw.lat`, body, { msgID: id, headers: h });
        await sleep(2);
      }
      await until(() => [...rawCommitted.keys()].every((id) => rawArrivals.has(id)), 30_000, 'raw latency');
      const rawLat = latencyStats([...rawCommitted].map(([id, at]) => rawArrivals.get(id)! - at));
      rawSub.unsubscribe();
      await store.close();

      rows.push(
        {
          name: 'outbox relay: Postgres commit -> NATS delivery',
          unit: 'events/s',
          value: relayRate,
          baseline: rawRate,
          ratio: relayRate / rawRate,
          ratioNote: 'vs raw INSERT + js.publish',
        },
        {
          name: 'outbox relay: commit -> delivery p50',
          unit: 'ms',
          value: relayLat.p50,
          baseline: rawLat.p50,
          ratio: relayLat.p50 / rawLat.p50,
          ratioNote: 'lower is better',
        },
        {
          name: 'outbox relay: commit -> delivery p99',
          unit: 'ms',
          value: relayLat.p99,
          baseline: rawLat.p99,
          ratio: relayLat.p99 / rawLat.p99,
          ratioNote: 'lower is better',
        },
      );
    }

    // ---- Coordinator, CPU-free: one process, 4 concurrent no-op handlers ----
    const rawQueueRate = await rawSkipLocked(pgt.pool, pgt.schema, CPU_FREE_TASKS);
    const measure = async (name: string, tasks: number, make: () => Promise<{ coordinator: TaskCoordinator; close: () => Promise<void> }>) => {
      const { coordinator, close } = await make();
      console.error(`${name} ...`);
      try {
        for (let i = 0; i < tasks; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => coordinator.submit({ payload: { n: i + j } })));
        const start = performance.now();
        const worker = runTaskWorker(coordinator, { workerId: 'bench', concurrency: WORKERS, prefetch: PREFETCH, handler: () => ({ ok: true }) });
        await until(() => worker.completed >= tasks, 120_000, name);
        const rate = tasks / ((performance.now() - start) / 1000);
        await worker.close();
        const completed = await coordinator.list({ status: 'completed', limit: tasks + 1 });
        if (completed.length !== tasks) throw new Error(`${name}: ${completed.length} of ${tasks} tasks completed`);
        rows.push({
          name,
          unit: 'tasks/s',
          value: rate,
          baseline: rawQueueRate,
          ratio: rate / rawQueueRate,
          ratioNote: 'vs raw pg SKIP LOCKED claim+complete, 4 clients',
        });
        return rate;
      } finally {
        await close();
      }
    };
    await measure('coordinator, embedded in-memory, 4 handlers, no-op', 5_000, async () => {
      const s: EventStore = createInMemoryEventStore();
      const coordinator = createInMemoryTaskCoordinator({ store: s });
      return { coordinator, close: async () => (await coordinator.close(), await s.close()) };
    });
    const pglite = await createTestPGlite();
    await measure('coordinator, embedded PGlite, 4 handlers, no-op', 1_000, async () => {
      const s = await createPGliteEventStore({ pglite, partition: 'bench' });
      const coordinator = await createPostgresTaskCoordinator({ db: new Kysely({ dialect: new PGliteDialect({ pglite }) }), store: s });
      return { coordinator, close: async () => (await coordinator.close(), await s.close()) };
    });
    await pglite.close();
    const distributed = await measure('coordinator, Postgres + NATS wake-up, 4 handlers, no-op', CPU_FREE_TASKS, async () => {
      const s = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition: 'tasks' });
      const bus = createNatsBus(nc);
      const coordinator = await createPostgresTaskCoordinator({
        pool: pgt.pool,
        schema: pgt.schema,
        store: s,
        wakeup: createBusTaskWakeup(bus, { subject: `bench_${suffix}.wake` }),
      });
      return { coordinator, close: async () => (await coordinator.close(), await bus.close(), await s.close()) };
    });
    const last = rows.at(-1)!;
    rows[rows.length - 1] = { ...last, target: '>= 0.5 of raw', met: distributed / rawQueueRate >= 0.5 };
    rows.push({ name: 'raw pg SKIP LOCKED queue, 4 clients (baseline)', unit: 'tasks/s', value: rawQueueRate });

    // ---- Coordinator, I/O-bound scale-out: 1, 2, 3 worker processes, 4 handlers of 20 ms each ----
    const scale: ScaleRun[] = [];
    for (const processes of [1, 2, 3]) scale.push(await scaleOut(pgt, processes, suffix));
    const one = scale[0]!;
    for (const run of scale) {
      rows.push({
        name: `scale-out, ${run.processes} process${run.processes > 1 ? 'es' : ''} x ${WORKERS} handlers of ${HANDLER_MS} ms`,
        unit: 'tasks/s',
        value: run.rate,
        baseline: one.rate,
        ratio: run.rate / one.rate,
        ratioNote: 'vs 1 process',
        ...(run.processes === 3 ? { target: '>= 2.7x 1 process', met: run.rate / one.rate >= 2.7 } : {}),
      });
    }
    for (const run of scale) {
      rows.push({
        name: `scale-out, ${run.processes} process${run.processes > 1 ? 'es' : ''}: coordinator time per task, p50 (p90 ${run.gaps.p90.toFixed(1)})`,
        unit: 'ms',
        value: run.gaps.p50,
        target: '< 5 ms',
        met: run.gaps.p50 < 5,
      });
    }
    for (const run of scale) {
      rows.push({
        name: `scale-out, ${run.processes} process${run.processes > 1 ? 'es' : ''}: idle slot time per task from throughput (mean)`,
        unit: 'ms',
        value: run.idlePerTaskMs,
      });
    }
    scaleNotes = scale.map(({ processes, tasks, rate, gaps, handler, idlePerTaskMs }) => ({
      processes,
      tasks,
      rate,
      gapsMs: gaps,
      handlerMs: handler,
      idlePerTaskMs,
    }));
  } finally {
    await jsm.streams.delete(streamName).catch(() => undefined);
    await nc.close();
    await pgt.close();
  }
  // The shared PGlite template of @buckley/testing stays open for the process; end it here.
  setTimeout(() => process.exit(0), 1_000).unref();
  report('coordination', rows, {
    load: { start: loadAtStart, end: loadavg(), note: '1, 5 and 15 minute load averages of the host (2 vCPUs shared with other work)' },
    notes: {
      relay: `${RELAY_EVENTS} events appended 100 per append (4 appends in flight) to the Postgres store; relay batch 256 to JetStream (file storage) with Nats-Msg-Id; delivery measured on a core NATS subscriber in the same process. Latency: ${LATENCY_EVENTS} single-event appends 2 ms apart, from append resolved to delivery. Baseline: raw pg multi-row INSERT then pipelined js.publish (a dual write with no outbox, no checkpoint, no gap safety).`,
      coordinator: `CPU-free: tasks pre-submitted, then one runTaskWorker with concurrency 4 and prefetch ${PREFETCH} claims, runs a no-op handler and completes; each task = submitted + claimed + completed events plus the tasks row; every task checked completed. Baseline: raw pg table, 4 pool clients each looping UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) then UPDATE status = done, no events.`,
      scaleOut: `I/O-bound: ${SCALE_TASKS_PER_PROCESS} tasks per worker process pre-submitted, then 1, 2 or 3 child processes (each its own pg pool, NATS connection and Postgres coordinator with a NATS wake-up, warmed up before the go signal: pool connections open, statements run once) run runTaskWorker with concurrency ${WORKERS}, prefetch ${PREFETCH} and a handler that waits ${HANDLER_MS} ms; the rate is from the go signal to the last completion seen by the parent (polling every 10 ms). Checked: every task's handler ran exactly once across processes and every task has exactly one coordinator.task.completed event. Coordinator time per task: a handler slot's wait from the end of its previous task (or the go signal) to the start of the next, slots modelled as a FIFO. Idle slot time per task from throughput: processes * ${WORKERS} / rate - mean handler time.`,
      scaleRuns: scaleNotes,
    },
  });
}

/** 4 clients claiming and completing rows of a plain table with SKIP LOCKED: the floor of any Postgres queue. */
async function rawSkipLocked(pool: Pool, schema: string, n: number): Promise<number> {
  const t = `"${schema}".raw_jobs`;
  await pool.query(`CREATE TABLE ${t} (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'pending', payload jsonb, worker text)`);
  await pool.query(`CREATE INDEX ON ${t} (id) WHERE status = 'pending'`);
  await pool.query(`INSERT INTO ${t} (payload) SELECT jsonb_build_object('n', g) FROM generate_series(1, ${n}) g`);
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      for (;;) {
        const { rows } = await pool.query<{ id: string }>(
          `UPDATE ${t} SET status = 'claimed', worker = $1 WHERE id = (SELECT id FROM ${t} WHERE status = 'pending' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id`,
          [`w${w}`],
        );
        if (rows.length === 0) return;
        await pool.query(`UPDATE ${t} SET status = 'done' WHERE id = $1`, [rows[0]!.id]);
        done++;
      }
    }),
  );
  if (done !== n) throw new Error(`raw queue completed ${done} of ${n}`);
  return n / ((performance.now() - start) / 1000);
}

interface ScaleRun {
  readonly processes: number;
  readonly tasks: number;
  readonly rate: number;
  readonly gaps: LatencyStats;
  readonly handler: LatencyStats;
  readonly idlePerTaskMs: number;
}

/** Runs `processes` worker processes over pre-submitted tasks in a schema of their own; checks every task ran and completed once. */
async function scaleOut(pgt: TestPostgres, processes: number, suffix: string): Promise<ScaleRun> {
  const schema = `${pgt.schema}_p${processes}`;
  console.error(`scale-out, ${processes} processes ...`);
  const tasks = SCALE_TASKS_PER_PROCESS * processes;
  const store = await createPostgresEventStore({ pool: pgt.pool, schema, partition: 'tasks' });
  const coordinator = await createPostgresTaskCoordinator({ pool: pgt.pool, schema, store });
  const children: { lines: AsyncIterator<string>; send: (line: string) => void; exited: Promise<unknown>; kill: () => void }[] = [];
  try {
    for (let i = 0; i < tasks; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, tasks - i) }, (_, j) => coordinator.submit({ payload: { n: i + j } })));
    }
    const subject = `bench_${suffix}.scale${processes}.wake`;
    for (let p = 0; p < processes; p++) {
      const child = spawn(
        tsx,
        [
          '--conditions=@buckley/source',
          join(import.meta.dirname, 'coordination-worker.ts'),
          pgt.url,
          schema,
          NATS_URL,
          subject,
          `w${p}`,
          String(WORKERS),
          String(PREFETCH),
          String(HANDLER_MS),
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      children.push({
        lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](),
        send: (line) => child.stdin.write(`${line}\n`),
        exited,
        kill: () => child.kill('SIGKILL'),
      });
    }
    for (const child of children) {
      const { value } = await child.lines.next();
      if (value !== 'READY') throw new Error(`worker process did not start: ${String(value)}`);
    }
    const start = performance.now();
    for (const child of children) child.send('go');
    const count = async () =>
      Number((await pgt.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".tasks WHERE status = 'completed'`)).rows[0]!.n);
    const deadline = Date.now() + 120_000;
    while ((await count()) < tasks) {
      if (Date.now() > deadline) throw new Error(`scale-out with ${processes} processes did not finish`);
      await sleep(10);
    }
    const rate = tasks / ((performance.now() - start) / 1000);
    const reports: { ran: string[]; gaps: number[]; handlerTimes: number[] }[] = [];
    for (const child of children) {
      child.send('stop');
      const { value } = await child.lines.next();
      reports.push(JSON.parse(String(value)));
      await child.exited;
    }
    const ran = reports.flatMap((r) => r.ran);
    if (ran.length !== tasks || new Set(ran).size !== tasks)
      throw new Error(`scale-out with ${processes} processes: ${ran.length} handler runs of ${new Set(ran).size} distinct tasks, expected ${tasks} once each`);
    const { rows } = await pgt.pool.query<{ n: string; d: string }>(
      `SELECT count(*) AS n, count(DISTINCT stream_id) AS d FROM "${schema}".events WHERE type = 'coordinator.task.completed'`,
    );
    if (Number(rows[0]!.n) !== tasks || Number(rows[0]!.d) !== tasks)
      throw new Error(`scale-out with ${processes} processes: ${rows[0]!.n} completed events on ${rows[0]!.d} tasks, expected ${tasks}`);
    const handler = latencyStats(reports.flatMap((r) => r.handlerTimes));
    return {
      processes,
      tasks,
      rate,
      gaps: latencyStats(reports.flatMap((r) => r.gaps)),
      handler,
      idlePerTaskMs: ((processes * WORKERS) / rate) * 1000 - handler.mean,
    };
  } finally {
    for (const child of children) child.kill();
    await Promise.all(children.map((c) => c.exited));
    await coordinator.close();
    await store.close();
    await pgt.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}
