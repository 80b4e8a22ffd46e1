// The worker process of coordination.bench.ts: one runTaskWorker on Postgres + NATS whose
// handler waits a fixed time (an I/O-bound task such as a tool call). Usage:
// coordination-worker.ts <postgres-url> <schema> <nats-url> <wake-subject> <worker-id> <concurrency> <prefetch> <handler-ms>
// Prints READY, starts on a "go" line on stdin, stops on "stop" and prints one JSON line: the
// task ids its handler ran, and per task the gap a handler slot spent waiting for it.
import { createInterface } from 'node:readline';
import { createBusTaskWakeup, runTaskWorker } from '@buckley/coordination';
import { createNatsBus } from '@buckley/nats';
import { createPostgresEventStore, createPostgresTaskCoordinator } from '@buckley/postgres';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';

const [url, schema, natsUrl, subject, workerId, concurrencyArg, prefetchArg, handlerMsArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
const concurrency = Number(concurrencyArg);
const handlerMs = Number(handlerMsArg);
const pool = new pg.Pool({ connectionString: url, max: concurrency + 2 });
const nc = await connect({ servers: natsUrl, name: `bench-${workerId}` });
const bus = createNatsBus(nc);
const store = await createPostgresEventStore({ pool, schema, partition: 'tasks', migrate: false });
const coordinator = await createPostgresTaskCoordinator({ pool, schema, store, migrate: false, wakeup: createBusTaskWakeup(bus, { subject }) });
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
// Warm up as a long-running worker would be: every pool connection open, the statements run once.
await Promise.all(Array.from({ length: concurrency + 2 }, () => pool.query('SELECT 1')));
await coordinator.completeAndClaim({ claim: { workerId, max: 0 } });
await coordinator.list({ limit: 1 });
process.stdout.write('READY\n');
await lines.next();

// Slots are modelled as a FIFO of the moments a slot became free: a handler that starts takes
// the oldest, so its gap is the time that slot waited for the coordinator to hand it a task.
const go = performance.now();
const free: number[] = Array.from({ length: concurrency }, () => go);
const gaps: number[] = [];
const handlerTimes: number[] = [];
const ran: string[] = [];
const worker = runTaskWorker(coordinator, {
  workerId,
  concurrency,
  prefetch: Number(prefetchArg),
  handler: async (lease) => {
    const start = performance.now();
    gaps.push(start - (free.shift() ?? start));
    ran.push(lease.taskId);
    if (handlerMs > 0) await new Promise((resolve) => setTimeout(resolve, handlerMs));
    const end = performance.now();
    handlerTimes.push(end - start);
    free.push(end);
    return {};
  },
});
await lines.next();
input.close();
process.stdin.destroy();
await worker.close();
process.stdout.write(`${JSON.stringify({ workerId, ran, gaps, handlerTimes, completed: worker.completed })}\n`);
await coordinator.close();
await store.close();
await bus.close();
await nc.close();
await pool.end();
