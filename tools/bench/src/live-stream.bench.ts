// Live stream benchmark: from the start of an append to the moment an SSE client has parsed the
// event, on Postgres through a real HTTP connection, with 1 and with 100 clients; against raw
// pg (INSERT, then NOTIFY with the row as payload, received by a LISTEN connection) in the same
// run. `pnpm --filter @buckley/bench bench live-stream`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { createObservabilityMetrics, createSseHandler } from '@buckley/observability';
import { createPostgresEventStore } from '@buckley/postgres';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { type BenchRow, latencyStats, report } from './harness.js';

const url = process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const EVENTS = 300;
const INTERVAL_MS = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A tool run's end event of realistic size (~400 bytes of data and metadata).
const event = (n: number) => ({
  type: 'tool.run.completed',
  data: { operationId: `op-${n}`, name: 'shell', durationMs: 42, output: { exitCode: 0, stdout: 'x'.repeat(200) }, n },
  metadata: { sessionId: 'session-1', planId: 'plan-1', toolName: 'shell', outcome: 'success' as const, durationMs: 42, attempt: 1 },
});

/** An SSE client over a plain HTTP connection: calls `onEvent(n)` for each event's `data.n`. */
function sseClient(target: string, onEvent: (n: number) => void): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const request = http.get(target, (response) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame.split('\n').find((line) => line.startsWith('data: '));
          if (data) onEvent((JSON.parse(data.slice(6)) as { data: { n: number } }).data.n);
        }
      });
      resolve(request);
    });
    request.on('error', reject);
  });
}

async function throughStore(pool: Pool, schema: string, clients: number, partition: string) {
  const store = await createPostgresEventStore({ pool, schema, partition });
  const registry = new Registry();
  const sse = createSseHandler({ store, metrics: createObservabilityMetrics({ registry, defaultMetrics: false }) });
  const server = http.createServer((request, response) => void sse(request, response));
  server.maxConnections = clients + 10;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  const sentAt: number[] = [];
  const latencies: number[] = [];
  let received = 0;
  const requests = await Promise.all(
    Array.from({ length: clients }, () =>
      sseClient(target, (n) => {
        latencies.push(performance.now() - sentAt[n]!);
        received++;
      }),
    ),
  );
  for (;;) {
    if (sse.clients >= clients) break;
    await sleep(10);
  }
  await sleep(200);
  for (let n = 0; n < EVENTS; n++) {
    sentAt[n] = performance.now();
    await store.append(`live:${n % 4}`, [event(n)]);
    await sleep(INTERVAL_MS);
  }
  const deadline = Date.now() + 30_000;
  const total = EVENTS * clients;
  for (;;) {
    if (received >= total || Date.now() > deadline) break;
    await sleep(20);
  }
  if (received < EVENTS * clients) throw new Error(`only ${received} of ${EVENTS * clients} deliveries arrived`);
  for (const request of requests) request.destroy();
  await sse.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await store.close();
  return latencyStats(latencies);
}

/** The floor: INSERT a row, NOTIFY its JSON, a LISTEN connection parses it. */
async function raw(pool: Pool, schema: string) {
  const listener = await pool.connect();
  const channel = `${schema}_raw`;
  const sentAt: number[] = [];
  const latencies: number[] = [];
  const onNotification = (message: { payload?: string }) => {
    const n = (JSON.parse(message.payload!) as { data: { n: number } }).data.n;
    latencies.push(performance.now() - sentAt[n]!);
  };
  listener.on('notification', onNotification);
  await listener.query(`LISTEN ${channel}`);
  await pool.query(
    `CREATE TABLE ${schema}.raw_events (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL)`,
  );
  for (let n = 0; n < EVENTS; n++) {
    sentAt[n] = performance.now();
    const e = event(n);
    await pool.query(
      `WITH i AS (INSERT INTO ${schema}.raw_events (type, data, metadata) VALUES ($1, $2, $3) RETURNING position, type, data)
       SELECT pg_notify($4, (SELECT row_to_json(i)::text FROM i))`,
      [e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), channel],
    );
    await sleep(INTERVAL_MS);
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (latencies.length >= EVENTS || Date.now() > deadline) break;
    await sleep(10);
  }
  await listener.query(`UNLISTEN ${channel}`);
  listener.off('notification', onNotification);
  // Not back into the pool: the store's LISTEN connection may come from it next.
  listener.release(true);
  return latencyStats(latencies);
}

export default async function liveStreamBench(): Promise<void> {
  const load: Record<string, number[]> = { start: loadavg() };
  const pool = new Pool({ connectionString: url, max: 8 });
  const schema = `bench_live_${process.pid}`;
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    const base = await raw(pool, schema);
    load.afterRaw = loadavg();
    const one = await throughStore(pool, schema, 1, 'one');
    load.afterOne = loadavg();
    const hundred = await throughStore(pool, schema, 100, 'hundred');
    load.afterHundred = loadavg();
    const rows: BenchRow[] = [
      {
        name: 'append -> SSE receipt, 1 client, p50',
        unit: 'ms',
        value: one.p50,
        baseline: base.p50,
        ratio: one.p50 / base.p50,
        ratioNote: 'store / raw NOTIFY',
      },
      { name: 'append -> SSE receipt, 1 client, p99', unit: 'ms', value: one.p99, baseline: base.p99, target: '<= 100 ms', met: one.p99 <= 100 },
      { name: 'append -> SSE receipt, 100 clients, p50', unit: 'ms', value: hundred.p50, baseline: base.p50 },
      { name: 'append -> SSE receipt, 100 clients, p99', unit: 'ms', value: hundred.p99, baseline: base.p99, target: '<= 100 ms', met: hundred.p99 <= 100 },
    ];
    report('live-stream', rows, { load, events: EVENTS, intervalMs: INTERVAL_MS, raw: base, oneClient: one, hundredClients: hundred });
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
  }
}
