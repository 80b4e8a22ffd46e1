import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { type TestPostgres, createTestPostgres, postgresUrl } from '@buckley/testing/postgres';
import { type TestPostgresEventStore, createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { type ObservabilityMetrics, createObservabilityMetrics, createRecorder, isObservabilityError } from './index.js';

const root = resolve(import.meta.dirname, '../../..');
// Node runs the fixture with tsx's loader, so the pid we kill is the recorder itself.
const tsxLoader = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs')).href;
const fixture = join(import.meta.dirname, 'fixtures/recording-process.ts');
const children = new Set<ChildProcess>();
const schemas: string[] = [];
let admin: TestPostgres | undefined;

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const schema of schemas) await admin?.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin?.close();
});

/** `data.seq` of every stored event of `type`, as the rows hold them (raw SQL). */
async function storedSeqs(pg: TestPostgres, schema: string, type: string): Promise<number[]> {
  const { rows } = await pg.pool.query<{ seq: number }>(`SELECT (data->>'seq')::int AS seq FROM "${schema}".events WHERE type = $1`, [type]);
  return rows.map((r) => r.seq);
}

async function metricValue(metrics: ObservabilityMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  const { values } = await metric!.get();
  const hits = values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return hits.reduce((sum, v) => sum + v.value, 0);
}

/**
 * A TCP proxy in front of the test Postgres that can be cut: every open connection is reset and
 * new ones are refused until `restore()`, which is what a store going down looks like to a pool.
 */
async function startProxy(): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const target = new URL(postgresUrl());
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as { port: number };
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

/** A Postgres event store whose every connection goes through `proxyUrl`. */
async function storeThrough(proxyUrl: string, prefix: string): Promise<TestPostgresEventStore> {
  const saved = process.env.BUCKLEY_TEST_POSTGRES_URL;
  process.env.BUCKLEY_TEST_POSTGRES_URL = proxyUrl;
  try {
    return await createTestPostgresEventStore(prefix);
  } finally {
    if (saved === undefined) delete process.env.BUCKLEY_TEST_POSTGRES_URL;
    else process.env.BUCKLEY_TEST_POSTGRES_URL = saved;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('batching writer on Postgres', () => {
  it('a flood of 100 000 records through the recorder all arrive in the store, with bounded memory', { timeout: 240_000 }, async () => {
    await using pgStore = await createTestPostgresEventStore('obs_flood');
    const metrics = createObservabilityMetrics({ registry: new Registry(), defaultMetrics: false });
    const maxBuffered = 5_000;
    await using recorder = createRecorder({ store: pgStore.store, metrics, writer: { maxBatch: 1_000, flushIntervalMs: 20, maxBuffered } });
    const total = 100_000;
    const acks: Array<Promise<void>> = [];
    let maxSeenBuffered = 0;
    await recorder.context.run({ sessionId: 'flood' }, async () => {
      for (let seq = 0; seq < total; seq++) {
        await recorder.ready();
        if (seq % 997 === 0) maxSeenBuffered = Math.max(maxSeenBuffered, await metricValue(metrics, 'buckley_telemetry_buffered'));
        acks.push(recorder.emit({ type: 'test.flood', data: { seq, payload: 'x'.repeat(64) } }));
      }
    });
    const settled = await Promise.allSettled(acks);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    await recorder.close();

    const seqs = await storedSeqs(pgStore.pg, pgStore.pg.schema, 'test.flood');
    expect(seqs).toHaveLength(total);
    expect(new Set(seqs).size).toBe(total);
    expect(maxSeenBuffered).toBeGreaterThan(0);
    expect(maxSeenBuffered).toBeLessThanOrEqual(maxBuffered);
    expect(await metricValue(metrics, 'buckley_telemetry_buffered')).toBe(0);
    expect(await metricValue(metrics, 'buckley_telemetry_dropped_total')).toBe(0);
    expect(await metricValue(metrics, 'buckley_events_appended_total', { family: 'test' })).toBe(total);
  });

  it('after kill -9 of a recording process, every acknowledged record is in the store', { timeout: 120_000 }, async () => {
    admin ??= await createTestPostgres('obs_kill_admin');
    const child = spawn(process.execPath, ['--conditions=@buckley/source', '--import', tsxLoader, fixture], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const acked = new Set<number>();
    let schema: string | undefined;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) {
        schema = line.slice(6);
        schemas.push(schema);
      } else if (line.startsWith('ACK ')) acked.add(Number(line.slice(4)));
    });
    // Kill it mid-flood, at a moment that varies with the machine's load.
    const target = 5_000 + Math.floor(Math.random() * 5_000);
    for (let waited = 0; acked.size < target; waited += 10) {
      if (child.exitCode !== null) throw new Error(`the recording process exited early: ${stderr}`);
      if (waited > 90_000) throw new Error(`only ${acked.size} acknowledgements in 90 s: ${stderr}`);
      await sleep(10);
    }
    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    expect(schema).toBeDefined();

    const stored = new Set([...(await storedSeqs(admin, schema!, 'test.telemetry')), ...(await storedSeqs(admin, schema!, 'test.state'))]);
    const missing = [...acked].filter((seq) => !stored.has(seq));
    expect(missing).toEqual([]);
    // Both paths were acknowledged before the kill: batched telemetry and awaited state events.
    expect([...acked].filter((seq) => seq % 100 === 99).length).toBeGreaterThan(0);
    expect(acked.size).toBeGreaterThanOrEqual(target);
  });

  /** Floods 5 000 records through a recorder whose store is cut off at record 1 000 for `outageMs`. */
  async function floodThroughOutage(
    prefix: string,
    { maxRetries, outageMs }: { maxRetries: number; outageMs: number },
    check: (result: {
      acked: Set<number>;
      rejected: Set<number>;
      stored: Set<number>;
      pgStore: TestPostgresEventStore;
      metrics: ObservabilityMetrics;
    }) => Promise<void>,
  ) {
    const proxy = await startProxy();
    try {
      await using pgStore = await storeThrough(proxy.url, prefix);
      const metrics = createObservabilityMetrics({ registry: new Registry(), defaultMetrics: false });
      await using recorder = createRecorder({ store: pgStore.store, metrics, writer: { maxBatch: 100, flushIntervalMs: 10, maxBuffered: 1_000, maxRetries } });
      const total = 5_000;
      const acked = new Set<number>();
      const rejected = new Set<number>();
      const acks: Array<Promise<void>> = [];
      for (let seq = 0; seq < total; seq++) {
        await recorder.ready();
        if (seq === 1_000) {
          proxy.cut();
          setTimeout(() => proxy.restore(), outageMs);
        }
        if (seq > 1_000 && seq < 1_400) await sleep(2); // keep producing while the store is down
        acks.push(
          recorder.emit({ type: 'test.outage', data: { seq } }, { streamId: 'outage' }).then(
            () => void acked.add(seq),
            (error: unknown) => {
              expect(isObservabilityError(error, 'TELEMETRY_DROPPED')).toBe(true);
              expect(error).toMatchObject({ reason: 'store_failed' });
              rejected.add(seq);
            },
          ),
        );
      }
      await Promise.all(acks);
      await recorder.close();
      // Every record is either acknowledged or rejected with the reason; none is left hanging.
      expect(acked.size + rejected.size).toBe(total);
      const seqs = await storedSeqs(pgStore.pg, pgStore.pg.schema, 'test.outage');
      const stored = new Set(seqs);
      // Retries of a batch that did commit wrote nothing twice.
      expect(seqs).toHaveLength(stored.size);
      expect([...acked].filter((seq) => !stored.has(seq))).toEqual([]);
      await check({ acked, rejected, stored, pgStore, metrics });
    } finally {
      await proxy.close();
    }
  }

  it('a short outage of the store is retried through: every record arrives, none is dropped', { timeout: 120_000 }, async () => {
    // Backoff 20, 40, 80, ... 1000 ms: ten retries wait about 6 s, the outage lasts 400 ms.
    await floodThroughOutage('obs_outage', { maxRetries: 10, outageMs: 400 }, async ({ acked, rejected, stored, metrics }) => {
      expect(rejected.size).toBe(0);
      expect(acked.size).toBe(5_000);
      expect(stored.size).toBe(5_000);
      expect(await metricValue(metrics, 'buckley_telemetry_dropped_total')).toBe(0);
    });
  });

  it('an outage longer than the retries drops records: counted, rejected, metered and recorded, never silently', { timeout: 120_000 }, async () => {
    await floodThroughOutage('obs_loss', { maxRetries: 2, outageMs: 1_500 }, async ({ rejected, pgStore, metrics }) => {
      expect(rejected.size).toBeGreaterThan(0);
      expect(await metricValue(metrics, 'buckley_telemetry_dropped_total', { reason: 'store_failed', family: 'test' })).toBe(rejected.size);
      // Once the store is back the loss is recorded in the store itself.
      const reports = await pgStore.store.read('system');
      expect(reports.every((e) => e.type === 'telemetry.dropped')).toBe(true);
      const reported = reports.reduce((sum, e) => sum + (e.data as { count: number }).count, 0);
      expect(reported).toBe(rejected.size);
      expect(reports.at(-1)!.data).toMatchObject({ reason: 'store_failed', total: rejected.size, byFamily: { test: expect.any(Number) } });
    });
  });
});
