import type { EventStore, NewEvent } from '@buckley/events';
import { ClosedError, type Clock, type CancelTimer, backoffDelay, sleep, systemClock, uuidv7 } from '@buckley/utils';
import { familyOf } from './event-families.js';
import type { ObservabilityMetrics } from './metrics.js';
import { InvalidObservabilityOptionError, TelemetryDroppedError } from './observability-errors.js';

/** Options of {@link createBatchingWriter}. */
export interface BatchingWriterOptions {
  /** Most records in one append (one `appendToStreams` call per flush). Default 500. */
  readonly maxBatch?: number;
  /** Longest a record waits in the buffer before a flush starts, in ms. Default 50. */
  readonly flushIntervalMs?: number;
  /** Most records accepted and not yet written (the memory bound). Default 10 000. */
  readonly maxBuffered?: number;
  /**
   * When the buffer is full: `'wait'` (default) makes `write()` wait for room (backpressure;
   * at most `maxWaiting` callers wait, further ones are dropped), `'drop'` drops the record.
   * Every drop is counted, exposed as `buckley_telemetry_dropped_total` and recorded as a
   * `telemetry.dropped` event.
   */
  readonly overflow?: 'wait' | 'drop';
  /** Most `write()` calls waiting for room in `'wait'` mode. Default 10 000. */
  readonly maxWaiting?: number;
  /**
   * Retries of a failed flush before its records count as dropped (`store_failed`). Default 3.
   * The waits are `@buckley/utils`' `backoffDelay`: 20 ms doubling to at most 1 s, ±25 % jitter.
   */
  readonly maxRetries?: number;
  /** Stream of the `telemetry.dropped` events. Default `system`. */
  readonly dropStreamId?: string;
  readonly metrics?: ObservabilityMetrics | undefined;
  readonly clock?: Clock;
}

/**
 * A writer for high-rate telemetry: records are buffered and appended together, bounded in
 * size and time, with bounded memory and no silent loss.
 */
export interface BatchingWriter extends AsyncDisposable {
  /**
   * Accepts one event for `streamId` and resolves once it is stored (the acknowledgement).
   * A record that a bound drops rejects with the reason (and is counted). Rejects at once
   * with `ClosedError` (`CLOSED`) after `close()`.
   */
  write(streamId: string, event: NewEvent): Promise<void>;
  /** Resolves when the buffer has room: await it before a `write()` you do not await. */
  ready(): Promise<void>;
  /** Writes everything accepted so far; resolves when it is stored (or dropped and counted). */
  flush(): Promise<void>;
  /** Stops accepting, flushes everything accepted, then writes the last `telemetry.dropped`. Idempotent. */
  close(): Promise<void>;
  /** Counters since creation. */
  stats(): { readonly accepted: number; readonly written: number; readonly dropped: number; readonly buffered: number };
}

/** Waits between retries of a failed flush: 20 ms doubling to at most 1 s, with utils' jitter (±25 %). */
const FLUSH_BACKOFF = { baseDelayMs: 20, maxDelayMs: 1000 } as const;

interface Entry {
  readonly streamId: string;
  readonly event: NewEvent;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new InvalidObservabilityOptionError(name, value, `an integer >= ${min}`);
  return v;
}

/**
 * Creates a batching writer over the store. What a `kill -9` can lose: the records accepted
 * and not yet acknowledged, at most `maxBuffered` (plus `maxWaiting` callers still waiting for
 * room), normally those of the last `flushIntervalMs`. A record whose `write()` resolved is in
 * the store.
 *
 * @example
 * ```ts
 * await using writer = createBatchingWriter(store, { maxBatch: 500, flushIntervalMs: 50 });
 * await writer.write('session:1', { type: 'tool.run.started', data: { ... } });
 * ```
 */
export function createBatchingWriter(store: EventStore, options: BatchingWriterOptions = {}): BatchingWriter {
  const maxBatch = positiveInt('maxBatch', options.maxBatch, 500);
  const flushIntervalMs = positiveInt('flushIntervalMs', options.flushIntervalMs, 50, 0);
  const maxBuffered = positiveInt('maxBuffered', options.maxBuffered, 10_000);
  const maxWaiting = positiveInt('maxWaiting', options.maxWaiting, 10_000, 0);
  const maxRetries = positiveInt('maxRetries', options.maxRetries, 3, 0);
  const overflow = options.overflow ?? 'wait';
  if (overflow !== 'wait' && overflow !== 'drop') throw new InvalidObservabilityOptionError('overflow', overflow, "'wait' or 'drop'");
  const dropStreamId = options.dropStreamId ?? 'system';
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics;

  let buffer: Entry[] = [];
  // Records of the batch being appended: still accepted and not written, so they count
  // against `maxBuffered` too.
  let inFlight = 0;
  // Room promised to woken `write()` callers that have not enqueued yet.
  let reserved = 0;
  const hasRoom = () => buffer.length + inFlight + reserved < maxBuffered;
  // Callers waiting for room, oldest first: `write()` calls (`reserve`, each woken one holds a
  // slot until it enqueues, so waking never overfills the buffer) and `ready()` calls.
  const waiting: Array<{ readonly wake: () => void; readonly reserve: boolean }> = [];
  const wakeWaiters = () => {
    while (waiting.length > 0 && hasRoom()) {
      const waiter = waiting.shift()!;
      if (waiter.reserve) reserved++;
      waiter.wake();
    }
  };
  let timer: CancelTimer | undefined;
  let flushing: Promise<void> | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  let accepted = 0;
  let written = 0;
  let dropped = 0;
  // Drops not yet reported in a telemetry.dropped event, by reason and family.
  const unreported = new Map<'buffer_full' | 'store_failed', Map<string, number>>();

  const drop = (reason: 'buffer_full' | 'store_failed', event: NewEvent) => {
    const family = familyOf(event.type);
    dropped++;
    metrics?.telemetryDropped.inc({ reason, family: metrics.label('family', family) });
    let byFamily = unreported.get(reason);
    if (byFamily === undefined) unreported.set(reason, (byFamily = new Map()));
    byFamily.set(family, (byFamily.get(family) ?? 0) + 1);
  };

  const reportDrops = async () => {
    if (unreported.size === 0) return;
    const events: NewEvent[] = [];
    for (const [reason, byFamily] of unreported) {
      const count = [...byFamily.values()].reduce((a, b) => a + b, 0);
      events.push({ id: uuidv7(), type: 'telemetry.dropped', data: { count, total: dropped, reason, byFamily: Object.fromEntries(byFamily) } });
    }
    unreported.clear();
    try {
      await store.append(dropStreamId, events);
      metrics?.eventsAppended.inc({ family: 'telemetry' }, events.length);
    } catch {
      // The drops stay counted in the metric; the next flush reports them again.
      for (const e of events) {
        const d = e.data as { reason: 'buffer_full' | 'store_failed'; byFamily: Record<string, number> };
        let byFamily = unreported.get(d.reason);
        if (byFamily === undefined) unreported.set(d.reason, (byFamily = new Map()));
        for (const [family, n] of Object.entries(d.byFamily)) byFamily.set(family, (byFamily.get(family) ?? 0) + n);
      }
    }
  };

  const appendBatch = async (batch: Entry[]) => {
    const byStream = new Map<string, NewEvent[]>();
    for (const entry of batch) {
      let events = byStream.get(entry.streamId);
      if (events === undefined) byStream.set(entry.streamId, (events = []));
      events.push(entry.event);
    }
    const appends = [...byStream].map(([streamId, events]) => ({ streamId, events }));
    for (let attempt = 0; ; attempt++) {
      try {
        // Ids are assigned on accept, so a retry of a batch that did commit writes nothing twice.
        await store.appendToStreams(appends);
        break;
      } catch (error) {
        if (attempt >= maxRetries) {
          for (const entry of batch) {
            drop('store_failed', entry.event);
            entry.reject(new TelemetryDroppedError('store_failed', { cause: error }));
          }
          return;
        }
        await sleep(backoffDelay(attempt + 1, FLUSH_BACKOFF, Math.random()), { clock });
      }
    }
    written += batch.length;
    if (metrics) {
      const families = new Map<string, number>();
      for (const entry of batch) {
        const family = familyOf(entry.event.type);
        families.set(family, (families.get(family) ?? 0) + 1);
      }
      for (const [family, n] of families) metrics.eventsAppended.inc({ family: metrics.label('family', family) }, n);
    }
    for (const entry of batch) entry.resolve();
  };

  const runFlushes = async () => {
    while (buffer.length > 0) {
      const batch = buffer.length <= maxBatch ? buffer : buffer.slice(0, maxBatch);
      buffer = batch === buffer ? [] : buffer.slice(maxBatch);
      inFlight = batch.length;
      try {
        await appendBatch(batch);
      } finally {
        inFlight = 0;
      }
      metrics?.telemetryBuffered.dec(batch.length);
      wakeWaiters();
    }
    await reportDrops();
  };

  const startFlush = (): Promise<void> => {
    timer?.();
    timer = undefined;
    flushing ??= runFlushes().finally(() => {
      flushing = undefined;
      if (buffer.length > 0) schedule();
    });
    return flushing;
  };

  const schedule = () => {
    if (flushing !== undefined) return;
    if (buffer.length >= maxBatch || flushIntervalMs === 0) void startFlush();
    else timer ??= clock.setTimeout(() => void startFlush(), flushIntervalMs);
  };

  const enqueue = (streamId: string, event: NewEvent): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      accepted++;
      buffer.push({ streamId, event: event.id === undefined ? { ...event, id: uuidv7() } : event, resolve, reject });
      metrics?.telemetryBuffered.inc();
      schedule();
    });

  const write = async (streamId: string, event: NewEvent): Promise<void> => {
    if (closed) throw new ClosedError('batching writer');
    if (hasRoom()) return enqueue(streamId, event);
    if (overflow === 'drop' || waiting.length >= maxWaiting) {
      drop('buffer_full', event);
      if (flushing === undefined) void startFlush();
      throw new TelemetryDroppedError('buffer_full');
    }
    await new Promise<void>((wake) => waiting.push({ wake, reserve: true }));
    reserved--;
    return enqueue(streamId, event);
  };

  const drain = async () => {
    for (;;) {
      if (flushing !== undefined) await flushing;
      else if (buffer.length > 0) await startFlush();
      else return;
    }
  };

  const flush = async () => {
    await drain();
    // One more try at reporting drops (a store that refuses them keeps them counted in the metric).
    if (unreported.size > 0) await reportDrops();
  };

  const close = () =>
    (closing ??= (async () => {
      closed = true;
      // Callers already waiting for room were accepted before close: they get written too.
      for (;;) {
        wakeWaiters();
        await new Promise<void>((resolve) => setImmediate(resolve));
        await drain();
        if (waiting.length === 0 && buffer.length === 0) break;
      }
      if (unreported.size > 0) await reportDrops();
    })());

  return {
    write,
    ready: async () => {
      for (;;) {
        if (hasRoom() || closed) return;
        await new Promise<void>((wake) => waiting.push({ wake, reserve: false }));
      }
    },
    flush,
    close,
    [Symbol.asyncDispose]: close,
    stats: () => ({ accepted, written, dropped, buffered: buffer.length + inFlight }),
  };
}
