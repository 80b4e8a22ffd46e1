import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventFilter, EventStore, StoredEvent } from '@buckley/events';
import { type LiveStream, openLiveStream } from './live-stream.js';
import type { ObservabilityMetrics } from './metrics.js';
import { InvalidObservabilityOptionError, isObservabilityError, ObservabilityErrorCode } from './observability-errors.js';

/** The SSE event a client gets before it is closed for not reading: `data` is `{ lastPosition }`. */
export const SSE_LAGGED_EVENT = 'lagged';

/** The SSE event a client gets for a cursor the server cannot resume from: `data` is `{ cursor, code, message }` (`cursor` is `null` unless it has the shape of a position). */
export const SSE_UNRESUMABLE_EVENT = 'unresumable';

/** Longest gap {@link SseHandlerOptions.heartbeatMs} allows: 15 s. */
export const MAX_SSE_HEARTBEAT_MS = 15_000;

/** Options of {@link createSseHandler}. */
export interface SseHandlerOptions {
  readonly store: EventStore;
  /** A fixed filter, or one per request (e.g. from its query string). */
  readonly filter?: EventFilter | ((request: IncomingMessage) => EventFilter | undefined);
  /** Where a client without `Last-Event-ID` (or `?after=`) starts: `'end'` (default) or `'start'`. */
  readonly from?: 'start' | 'end';
  /** Milliseconds between heartbeat comments; default and at most 15 000. */
  readonly heartbeatMs?: number;
  /** The `retry:` the client is told to wait before reconnecting, in milliseconds; default 1000. */
  readonly retryMs?: number;
  /** Bytes a client may leave unread in its connection's buffer before it must catch up; default 1 MiB. */
  readonly maxBufferBytes?: number;
  /** How long a client over {@link maxBufferBytes} has to read before it gets `lagged` and is closed; default 10 000 ms. */
  readonly lagTimeoutMs?: number;
  /** Counts open clients in `buckley_live_stream_subscribers`. */
  readonly metrics?: Pick<ObservabilityMetrics, 'liveStreamSubscribers'>;
}

/** A `node:http` request handler that serves the live event stream as Server-Sent Events. */
export interface SseHandler extends AsyncDisposable {
  (request: IncomingMessage, response: ServerResponse): Promise<void>;
  /** Clients connected now. */
  readonly clients: number;
  /** Ends every client's stream (each may reconnect elsewhere); later requests get 503. */
  close(): Promise<void>;
}

/**
 * One SSE frame for a stored event: `id:` its position (so the browser's `Last-Event-ID`
 * resumes there), `event:` its type, `data:` the whole envelope as one line of JSON.
 */
export function encodeSseEvent(event: StoredEvent): string {
  return `id: ${event.position}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** A control frame without `id:`, so it does not move the client's `Last-Event-ID`. */
export function encodeSseControl(name: string, data: Record<string, unknown>): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Serves the store's live stream as Server-Sent Events. Each connection resumes after its
 * `Last-Event-ID` header (or an `?after=` query parameter) and otherwise starts at `from`;
 * it gets `retry:` first, then every matching event in log order, and a heartbeat comment at
 * most every 15 s. Events are written as fast as the client reads: one that leaves more than
 * `maxBufferBytes` unread for `lagTimeoutMs` gets a `lagged` event with the last position
 * sent and is closed, so it reconnects and resumes (nothing is skipped). A cursor the store
 * does not know gets an `unresumable` event and the connection ends.
 *
 * @example
 * ```ts
 * await using sse = createSseHandler({ store, filter: { typePrefix: 'tool.run.' } });
 * const server = http.createServer((req, res) => void sse(req, res));
 * ```
 */
export function createSseHandler(options: SseHandlerOptions): SseHandler {
  const { store, from = 'end', metrics } = options;
  const heartbeatMs = bounded('heartbeatMs', options.heartbeatMs ?? MAX_SSE_HEARTBEAT_MS, 1, MAX_SSE_HEARTBEAT_MS);
  const retryMs = bounded('retryMs', options.retryMs ?? 1000, 0, 3_600_000);
  const maxBufferBytes = bounded('maxBufferBytes', options.maxBufferBytes ?? 1024 * 1024, 1, 2 ** 31);
  const lagTimeoutMs = bounded('lagTimeoutMs', options.lagTimeoutMs ?? 10_000, 1, 3_600_000);
  if (typeof store?.subscribe !== 'function') throw new InvalidObservabilityOptionError('store', store, 'an EventStore');
  const clients = new Set<{ stop: () => void; done: Promise<void> }>();
  let closed = false;
  // Clients caught up on the same store share the event objects of one read (the Postgres
  // store's shared subscription reads), so each event is encoded once, not once per client.
  const frames = new WeakMap<StoredEvent, string>();
  const frameOf = (event: StoredEvent): string => {
    let frame = frames.get(event);
    if (frame === undefined) frames.set(event, (frame = encodeSseEvent(event)));
    return frame;
  };

  const serve = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (closed) {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('live stream closed');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const header = request.headers['last-event-id'];
    const cursor = (Array.isArray(header) ? header[0] : header) || url.searchParams.get('after') || undefined;
    const stop = new AbortController();
    let finish!: () => void;
    const client = { stop: () => stop.abort(), done: new Promise<void>((resolve) => (finish = resolve)) };
    clients.add(client);
    const onClose = () => stop.abort();
    request.on('close', onClose);
    response.on('close', onClose);
    let heartbeat: NodeJS.Timeout | undefined;
    let live: LiveStream | undefined;
    try {
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      response.write(`retry: ${retryMs}\n\n`);
      const filter = typeof options.filter === 'function' ? options.filter(request) : options.filter;
      try {
        live = await openLiveStream({ store, after: cursor, from, filter, metrics, signal: stop.signal });
      } catch (error) {
        if (!isObservabilityError(error)) throw error;
        // The cursor is echoed only when it has the shape of a position; nothing else a client sent is reflected.
        const payload = { cursor: cursor !== undefined && /^\d{1,20}$/.test(cursor) ? cursor : null, code: error.code, message: error.message };
        response.end(encodeSseControl(error.code === ObservabilityErrorCode.UnresumableCursor ? SSE_UNRESUMABLE_EVENT : 'error', payload));
        return;
      }
      heartbeat = setInterval(() => {
        if (response.writableLength <= maxBufferBytes) response.write(`: heartbeat ${Date.now()}\n\n`);
      }, heartbeatMs);
      let lastPosition: string | undefined;
      for await (const event of live) {
        response.write(frameOf(event));
        lastPosition = event.position;
        if (response.writableLength > maxBufferBytes && !(await drained(response, lagTimeoutMs, stop.signal))) {
          if (!stop.signal.aborted) response.end(encodeSseControl(SSE_LAGGED_EVENT, { lastPosition: lastPosition ?? null }));
          break;
        }
      }
    } finally {
      clearInterval(heartbeat);
      request.off('close', onClose);
      response.off('close', onClose);
      await live?.close();
      if (!response.writableEnded) response.end();
      clients.delete(client);
      finish();
    }
  };

  const close = async (): Promise<void> => {
    closed = true;
    const open = [...clients];
    for (const client of open) client.stop();
    await Promise.all(open.map((client) => client.done));
  };

  // defineProperties, not Object.assign: assign would copy the getter's value once.
  return Object.defineProperties(serve, {
    clients: { get: () => clients.size, enumerable: true },
    close: { value: close },
    [Symbol.asyncDispose]: { value: close },
  }) as SseHandler;
}

/** Resolves true once `response` drained below its buffer, false after `timeoutMs` or on abort. */
function drained(response: ServerResponse, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      response.off('drain', onDrain);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    response.on('drain', onDrain);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function bounded(option: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InvalidObservabilityOptionError(option, value, `a number of milliseconds or bytes from ${min} to ${max}`);
  }
  return value;
}
