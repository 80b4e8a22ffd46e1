import { type AddressInfo } from 'node:net';
import http from 'node:http';
import { type EventStore, createInMemoryEventStore } from '@buckley/events';
import { createTestPostgresEventStore } from '@buckley/testing/postgres-store';
import { EventSource } from 'eventsource';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type SseHandlerOptions, createObservabilityMetrics, createSseHandler } from './index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** An HTTP server serving the SSE handler, with the gauge it reports to. */
async function serve(store: EventStore, options: Omit<SseHandlerOptions, 'store' | 'metrics'> = {}) {
  const registry = new Registry();
  const metrics = createObservabilityMetrics({ registry, defaultMetrics: false });
  const sse = createSseHandler({ store, metrics, ...options });
  const requests: Array<string | undefined> = [];
  const server = http.createServer((request, response) => {
    requests.push(request.headers['last-event-id'] as string | undefined);
    void sse(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  const subscribers = async () => (await registry.getSingleMetric('buckley_live_stream_subscribers')!.get()).values[0]?.value ?? 0;
  const close = async () => {
    await sse.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { sse, url, requests, subscribers, close, [Symbol.asyncDispose]: close };
}

/** The raw body of one SSE response (until the server ends it), read as a plain HTTP client. */
function rawGet(url: string, headers: Record<string, string> = {}, pauseMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        if (pauseMs > 0) {
          response.pause();
          setTimeout(() => response.resume(), pauseMs);
        }
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(body));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

const ids = (body: string) => [...body.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!);

describe('SSE live stream over HTTP', () => {
  it('an EventSource that drops its connection 100 times while events are appended gets every event once, in order, and leaves nothing open', async () => {
    await using pg = await createTestPostgresEventStore('sse');
    const { store } = pg;
    await using server = await serve(store, { from: 'start', retryMs: 5, filter: { typePrefix: 'test.' } });
    let appended = 0;
    let appending = true;
    const appender = (async () => {
      while (appending) {
        await store.append(`sse:${appended % 3}`, [{ type: 'test.tick', data: { n: appended } }]);
        if (appended % 10 === 0) await store.append('sse:noise', [{ type: 'other.noise', data: {} }]);
        appended++;
        await sleep(5);
      }
    })();

    let drops = 0;
    // The client's connection ends after a random 10-60 ms, 100 times: the EventSource sees
    // the stream end and reconnects by itself with Last-Event-ID.
    const droppingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (drops >= 100 || !response.body) return response;
      const reader = response.body.getReader();
      let ended = false;
      let timer: NodeJS.Timeout | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setTimeout(
            () => {
              ended = true;
              drops++;
              void reader.cancel().catch(() => undefined);
              controller.close();
            },
            10 + Math.random() * 50,
          );
        },
        async pull(controller) {
          const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
          if (ended) return;
          if (chunk.done) {
            ended = true;
            clearTimeout(timer);
            controller.close();
            return;
          }
          controller.enqueue(chunk.value);
        },
        cancel() {
          clearTimeout(timer);
          return reader.cancel();
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const received: Array<{ id: string; n: number }> = [];
    const source = new EventSource(server.url, { fetch: droppingFetch });
    source.addEventListener('test.tick', (message) => received.push({ id: message.lastEventId, n: JSON.parse(message.data).data.n }));
    source.addEventListener('other.noise', () => {
      throw new Error('the filter let other.noise through');
    });
    try {
      await until(async () => server.sse.clients === 1 && (await server.subscribers()) === 1, 10_000, 'the client connected and subscribed');
      await until(() => drops >= 100, 120_000, '100 disconnects');
      appending = false;
      await appender;
      await until(() => received.length >= appended, 30_000, `all ${appended} events`);
      await sleep(200);
      const log = await store.readAll({ filter: { typePrefix: 'test.' }, limit: 100_000 });
      expect(log).toHaveLength(appended);
      expect(received.map((r) => r.id)).toEqual(log.map((e) => e.position));
      expect(received.map((r) => r.n).toSorted((a, b) => a - b)).toEqual(Array.from({ length: appended }, (_, i) => i));
      expect(server.requests.length).toBeGreaterThanOrEqual(101);
      // Every reconnection after the first event resumed from the last one the client had.
      expect(server.requests.slice(1).filter((h) => h !== undefined).length).toBeGreaterThan(90);
    } finally {
      source.close();
      appending = false;
      await appender;
    }
    await until(async () => server.sse.clients === 0 && (await server.subscribers()) === 0, 10_000, 'clients and subscriptions gone');
  }, 180_000);

  it('a client that stops reading gets a lagged event with the last position sent, is closed, and resumes from there', async () => {
    await using store = createInMemoryEventStore();
    const big = 'x'.repeat(32 * 1024);
    for (let i = 0; i < 20; i++) {
      await store.append(
        'lag',
        Array.from({ length: 30 }, (_, j) => ({ type: 'test.big', data: { i, j, big } })),
      );
    }
    await using server = await serve(store, { from: 'start', maxBufferBytes: 64 * 1024, lagTimeoutMs: 200, heartbeatMs: 50 });
    const body = await rawGet(server.url, {}, 1500);
    const lagged = /^event: lagged\ndata: (.+)$/m.exec(body);
    expect(lagged).not.toBeNull();
    const sent = ids(body);
    const log = await store.readAll({ limit: 10_000 });
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(log.length);
    expect(sent).toEqual(log.slice(0, sent.length).map((e) => e.position));
    expect(JSON.parse(lagged![1]!)).toEqual({ lastPosition: sent.at(-1) });
    expect(body.indexOf('event: lagged')).toBeGreaterThan(body.lastIndexOf('id: '));
    await until(async () => server.sse.clients === 0 && (await server.subscribers()) === 0, 5000, 'lagged client gone');

    // Resuming from the last position it got: the rest of the log, from the next event on.
    const resumed = new EventSource(server.url, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, 'Last-Event-ID': sent.at(-1)! } }),
    });
    const next: string[] = [];
    resumed.addEventListener('test.big', (message) => next.push(message.lastEventId));
    await until(() => next.length >= 5, 10_000, 'resumed events');
    resumed.close();
    expect(next.slice(0, 5)).toEqual(log.slice(sent.length, sent.length + 5).map((e) => e.position));
    await until(async () => server.sse.clients === 0 && (await server.subscribers()) === 0, 5000, 'resumed client gone');
  });

  it('a cursor the store does not know gets an unresumable event, not an empty stream; retry and heartbeats come first', async () => {
    await using store = createInMemoryEventStore();
    await store.append('s', [{ type: 'test.one', data: {} }]);
    await using server = await serve(store, { heartbeatMs: 20, retryMs: 250 });
    const body = await rawGet(server.url, { 'Last-Event-ID': '999999' });
    expect(body.startsWith('retry: 250\n\n')).toBe(true);
    const match = /^event: unresumable\ndata: (.+)$/m.exec(body);
    expect(match).not.toBeNull();
    expect(JSON.parse(match![1]!)).toMatchObject({ cursor: '999999', code: 'LIVE_STREAM_CURSOR_UNRESUMABLE' });
    expect(await rawGet(`${server.url}?after=abc`)).toMatch(/event: unresumable/);

    // A real EventSource sees the explicit event too.
    const source = new EventSource(`${server.url}?after=424242`);
    const got = await new Promise<string>((resolve) => source.addEventListener('unresumable', (m) => resolve(m.data)));
    source.close();
    expect(JSON.parse(got).cursor).toBe('424242');

    // A live client starting at the end gets heartbeats while nothing happens, then the event.
    const controller = new AbortController();
    let live = '';
    const request = http.get(server.url, { signal: controller.signal }, (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (live += chunk));
    });
    request.on('error', () => undefined);
    await until(() => (live.match(/^: heartbeat/gm) ?? []).length >= 3, 5000, 'heartbeats');
    const [two] = await store.append('s', [{ type: 'test.two', data: {} }]);
    await until(() => live.includes(`id: ${two!.position}\nevent: test.two\n`), 5000, 'live event');
    expect(live).not.toContain('event: test.one');
    expect(await server.subscribers()).toBe(1);
    expect(server.sse.clients).toBe(1);
    controller.abort();
    await until(async () => server.sse.clients === 0 && (await server.subscribers()) === 0, 5000, 'client gone');
  });
});
