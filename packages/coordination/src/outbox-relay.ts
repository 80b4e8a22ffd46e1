import { type Clock, ClosedError, TimeoutError, backoffDelay, isClosedError, sleep, systemClock, throwIfAborted } from '@buckley/utils';
import type { Bus, BusHeaders } from '@buckley/bus';
import type { EventStore, StoredEvent, Subscription } from '@buckley/events';
import { encodeSubjectToken } from '@buckley/bus';

/** Default subject prefix of the live event stream: events go to `buckley.events.<encoded stream id>`. */
export const EVENT_SUBJECT_PREFIX = 'buckley.events';

/** Header names of a relayed event. `Nats-Msg-Id` is JetStream's de-duplication key. */
export const EventHeader = {
  MsgId: 'Nats-Msg-Id',
  StreamId: 'Buckley-Stream-Id',
  Version: 'Buckley-Version',
  Position: 'Buckley-Position',
  Type: 'Buckley-Event-Type',
} as const;

/** The subject of `streamId`'s events: `<prefix>.<encodeSubjectToken(streamId)>`, one token per stream. */
export function eventSubject(streamId: string, prefix: string = EVENT_SUBJECT_PREFIX): string {
  return `${prefix}.${encodeSubjectToken(streamId)}`;
}

/** The headers a relayed event carries: its id (as `Nats-Msg-Id`), stream, version, position and type. */
export function eventHeaders(event: StoredEvent): BusHeaders {
  return {
    [EventHeader.MsgId]: event.id,
    [EventHeader.StreamId]: event.streamId,
    [EventHeader.Version]: String(event.version),
    [EventHeader.Position]: event.position,
    [EventHeader.Type]: event.type,
  };
}

/**
 * Where the relay sends events. `publish` resolves only once every event of the batch has been
 * accepted (for JetStream: acknowledged), in order; a rejection makes the relay retry the whole
 * batch, so a publisher must tolerate re-sent events (JetStream drops them by `Nats-Msg-Id`).
 */
export interface EventPublisher {
  publish(events: readonly StoredEvent[], signal?: AbortSignal): Promise<void>;
}

/** Remembers how far a named reader of the global log got. */
export interface CheckpointStore {
  /** The last saved position of `name`, or `undefined` when it never saved one. */
  load(name: string, signal?: AbortSignal): Promise<string | undefined>;
  save(name: string, position: string, signal?: AbortSignal): Promise<void>;
}

/** A {@link CheckpointStore} in a map: for tests and the in-process relay of a single run. */
export class InMemoryCheckpointStore implements CheckpointStore {
  readonly #positions = new Map<string, string>();
  async load(name: string): Promise<string | undefined> {
    return this.#positions.get(name);
  }
  async save(name: string, position: string): Promise<void> {
    this.#positions.set(name, position);
  }
}

/** Options of {@link createBusEventPublisher}. */
export interface BusEventPublisherOptions {
  /** Default {@link EVENT_SUBJECT_PREFIX}. */
  readonly subjectPrefix?: string;
}

/**
 * An {@link EventPublisher} over any {@link Bus}: each event as JSON on its stream's subject
 * with {@link eventHeaders}. With the in-memory bus this is how the embedded runtime's
 * in-process subscribers get the same live stream as NATS subscribers; over core NATS it is
 * at most once, so use the JetStream publisher of `@buckley/nats` there.
 */
export function createBusEventPublisher(bus: Bus, options: BusEventPublisherOptions = {}): EventPublisher {
  const prefix = options.subjectPrefix ?? EVENT_SUBJECT_PREFIX;
  return {
    async publish(events, signal) {
      for (const event of events) {
        throwIfAborted(signal);
        bus.publish(eventSubject(event.streamId, prefix), JSON.stringify(event), { headers: eventHeaders(event) });
      }
      await bus.flush();
    },
  };
}

/** Options of {@link createOutboxRelay}. */
export interface OutboxRelayOptions {
  /** The log to relay; only committed events are read (the store's subscriptions are gap-safe). */
  readonly store: EventStore;
  readonly publisher: EventPublisher;
  readonly checkpoints: CheckpointStore;
  /** The checkpoint name; one relay per name at a time. Default `'outbox'`. */
  readonly name?: string;
  /** Most events per publish; default 256. */
  readonly batchSize?: number;
  /** First retry delay after a failed publish, doubling up to `maxRetryDelayMs`; default 100 ms. */
  readonly retryDelayMs?: number;
  /** Default 5,000 ms. */
  readonly maxRetryDelayMs?: number;
  /**
   * Receives publish, checkpoint and subscription errors; the relay keeps retrying. A
   * `ClosedError` (the publisher or checkpoint store was closed) cannot go away by retrying: the
   * relay reports it once and stops, as if closed.
   */
  readonly onError?: (error: unknown) => void;
  readonly clock?: Clock;
}

/** A running relay. */
export interface OutboxRelay extends AsyncDisposable {
  /** Events published (and acknowledged) since start, re-sends included. */
  readonly published: number;
  /** The position of the last event whose batch was published and checkpointed. */
  readonly checkpoint: string | undefined;
  /**
   * Resolves once every event committed before the call has been published and checkpointed.
   *
   * @throws {ClosedError} (`CLOSED`, resource `outbox relay`) at once after `close()`, when
   *   `close()` is called while it waits, and when the relay stopped on a closed publisher or
   *   checkpoint store (that error is the `cause`)
   * @throws {TimeoutError} (`TIMEOUT`) when `timeoutMs` (default 30 000) passed first
   * @throws {AbortedError} when `signal` aborted
   */
  drain(options?: { readonly timeoutMs?: number; readonly signal?: AbortSignal }): Promise<void>;
  /**
   * Stops reading, finishes or abandons the batch in flight, and saves nothing further. Every
   * call, also a second concurrent one, resolves once the batch in flight has ended. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts the outbox relay: follows the store's global log from the saved checkpoint (catch-up,
 * then live), publishes events in log order in batches, and saves the checkpoint after each
 * acknowledged batch. At least once: a crash between publish and checkpoint re-sends that
 * batch on restart, which JetStream drops by `Nats-Msg-Id` within its duplicate window and
 * consumers drop with {@link createEventDeduper}. A rolled-back append never reaches the log,
 * so it is never published.
 *
 * @example
 * ```ts
 * const relay = await createOutboxRelay({ store, publisher: createBusEventPublisher(bus), checkpoints: new InMemoryCheckpointStore() });
 * await relay.drain();
 * await relay.close();
 * ```
 */
export async function createOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const name = options.name ?? 'outbox';
  const batchSize = options.batchSize ?? 256;
  const baseDelay = options.retryDelayMs ?? 100;
  const maxDelay = options.maxRetryDelayMs ?? 5_000;
  const backoff = { baseDelayMs: baseDelay, maxDelayMs: maxDelay, jitter: 0 };
  const clock = options.clock ?? systemClock;
  const onError = options.onError ?? (() => {});
  const stopper = new AbortController();
  // The dependency's ClosedError when the relay stopped because its publisher or checkpoint store was closed.
  let closedBy: unknown;
  const closedError = () => new ClosedError('outbox relay', closedBy === undefined ? undefined : { cause: closedBy });
  const buffer: StoredEvent[] = [];
  let published = 0;
  let checkpoint = await options.checkpoints.load(name);
  let lastSeen = checkpoint;
  let loop: Promise<void> | undefined;
  const progress = new Set<() => void>();
  // Positions a drain() waits for, and those of them the subscription has delivered.
  const watched = new Set<string>();
  const reached = new Set<string>();

  const publishBatch = async (batch: StoredEvent[]): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await options.publisher.publish(batch, stopper.signal);
        published += batch.length;
        break;
      } catch (error) {
        if (stopper.signal.aborted || isClosedError(error)) throw error;
        onError(error);
        await sleep(backoffDelay(attempt + 1, backoff), { signal: stopper.signal, clock });
      }
    }
    const position = batch.at(-1)!.position;
    for (let attempt = 0; ; attempt++) {
      try {
        await options.checkpoints.save(name, position, stopper.signal);
        break;
      } catch (error) {
        if (stopper.signal.aborted || isClosedError(error)) throw error;
        onError(error);
        await sleep(backoffDelay(attempt + 1, backoff), { signal: stopper.signal, clock });
      }
    }
    checkpoint = position;
    for (const wake of progress) wake();
  };

  let subscription: Subscription | undefined;
  // One stop for every close() call: a second caller waits for the batch in flight too.
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopper.abort();
      // Waiting drains look again now, and reject.
      for (const wake of progress) wake();
      // A stop before the subscription is set up ends it through the aborted signal.
      await subscription?.unsubscribe();
      await loop;
    })();
    return stopping;
  };

  const run = async (): Promise<void> => {
    // Yield first, so `loop` is assigned before the finally below can clear it.
    await Promise.resolve();
    try {
      while (buffer.length > 0 && !stopper.signal.aborted) await publishBatch(buffer.splice(0, batchSize));
    } catch (error) {
      if (!stopper.signal.aborted) {
        onError(error);
        if (isClosedError(error)) {
          closedBy = error;
          void stop();
        }
      }
    } finally {
      loop = undefined;
    }
  };

  const kick = (): Promise<void> => {
    loop ??= run();
    return loop;
  };

  subscription = await options.store.subscribe({
    from: checkpoint === undefined ? 'start' : { after: checkpoint },
    signal: stopper.signal,
    onError,
    handler: async (event) => {
      buffer.push(event);
      lastSeen = event.position;
      if (watched.has(event.position)) reached.add(event.position);
      const running = kick();
      // Backpressure: let the store read ahead by a few batches, no more.
      if (buffer.length >= batchSize * 4) await running;
    },
  });

  return {
    get published() {
      return published;
    },
    get checkpoint() {
      return checkpoint;
    },
    async drain(drainOptions = {}) {
      if (stopper.signal.aborted) throw closedError();
      const timeoutMs = drainOptions.timeoutMs ?? 30_000;
      const deadline = clock.now() + timeoutMs;
      // The head of the log now (looked up from what the relay has already seen, not from the
      // start); everything up to it must be published and checkpointed.
      const start = lastSeen;
      let head = start;
      for (let after = start; ;) {
        const page = await options.store.readAll({ after, limit: 1000, signal: drainOptions.signal });
        if (page.length === 0) break;
        head = page.at(-1)!.position;
        after = head;
      }
      if (head === undefined) return;
      const target = head;
      // Watch before looking again, so a delivery racing with the look is not missed.
      watched.add(target);
      const now = lastSeen;
      let seen = now === target || reached.has(target) || (now !== start && now !== undefined && !(await logContains(options.store, now, target)));
      try {
        while (!(seen && buffer.length === 0 && loop === undefined && checkpoint === lastSeen)) {
          if (stopper.signal.aborted) throw closedError();
          throwIfAborted(drainOptions.signal);
          if (clock.now() > deadline) {
            throw new TimeoutError(timeoutMs, `outbox relay did not reach position ${target} within ${timeoutMs} ms (checkpoint ${checkpoint ?? 'none'})`);
          }
          await new Promise<void>((resolve) => {
            const done = () => {
              cancel();
              progress.delete(done);
              resolve();
            };
            const cancel = clock.setTimeout(done, 20);
            progress.add(done);
          });
          seen ||= reached.has(target);
        }
      } finally {
        watched.delete(target);
        reached.delete(target);
      }
    },
    close: stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** True when `target` comes after `position` in the log. */
async function logContains(store: EventStore, position: string, target: string): Promise<boolean> {
  for (let after = position; ;) {
    const page = await store.readAll({ after, limit: 1000 });
    if (page.length === 0) return false;
    if (page.some((e) => e.position === target)) return true;
    after = page.at(-1)!.position;
  }
}

/** Options of {@link createEventDeduper}. */
export interface EventDeduperOptions {
  /** How many recent ids are remembered; default 100,000. Size it above the re-send horizon. */
  readonly capacity?: number;
}

/** Drops re-delivered events by id. */
export interface EventDeduper {
  /** True the first time `id` is seen (within the remembered window), false for a repeat. */
  firstSeen(id: string): boolean;
  /** Ids currently remembered. */
  readonly size: number;
}

/**
 * A bounded set of recently seen event ids for consumers of the live stream, which is at least
 * once: call `firstSeen(message.headers['Nats-Msg-Id'])` and skip the message when it is false.
 * The oldest id is forgotten once `capacity` is reached.
 *
 * @example
 * ```ts
 * const dedupe = createEventDeduper();
 * await bus.subscribe('buckley.events.>', (m) => {
 *   if (dedupe.firstSeen(m.headers['Nats-Msg-Id']!)) handle(m.json());
 * });
 * ```
 */
export function createEventDeduper(options: EventDeduperOptions = {}): EventDeduper {
  const capacity = options.capacity ?? 100_000;
  const seen = new Set<string>();
  return {
    firstSeen(id) {
      if (seen.has(id)) return false;
      seen.add(id);
      if (seen.size > capacity) seen.delete(seen.values().next().value!);
      return true;
    },
    get size() {
      return seen.size;
    },
  };
}
