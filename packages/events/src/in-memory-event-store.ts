import { ClosedError, throwIfAborted } from '@buckley/utils';
import { EventIdConflictError, InvalidEventStoreOptionError } from './event-store-errors.js';
import type {
  AppendOptions,
  AppendToStreamsOptions,
  EventStore,
  EventStoreOptions,
  JsonValue,
  NewEvent,
  ReadAllOptions,
  ReadOptions,
  SignalOptions,
  Snapshot,
  StoredEvent,
  StreamAppend,
  SubscribeOptions,
  Subscription,
} from './event-store.js';
import { type OutcomeQueries, type OutcomeQuery, type OutcomeStats, aggregateOutcomes, resolveOutcomeQuery } from './outcome-query.js';
import { ChangeNotifier, type PullSource, createPullSubscription } from './subscription.js';
import {
  type NormalizedFilter,
  type ResolvedStoreOptions,
  assertStreamId,
  checkExpectedVersion,
  matchesFilter,
  normalizeFilter,
  parseCursor,
  prepareAppends,
  prepareSnapshot,
  resolveReadAllOptions,
  resolveReadOptions,
  resolveStoreOptions,
  resolveSubscribeFrom,
} from './validation.js';

/** Options of {@link createInMemoryEventStore}. */
export interface InMemoryEventStoreOptions extends EventStoreOptions {}

/** What {@link createInMemoryEventStore} returns: the event store and its outcome queries. */
export type InMemoryEventStore = EventStore & OutcomeQueries;

/**
 * Creates an event store that keeps everything in this process's memory: for tests and for
 * programs that need no durability. It honours the whole `EventStore` contract (it runs the
 * same conformance suite as the Postgres adapter). Stored events are deeply frozen.
 *
 * @example
 * ```ts
 * await using store = createInMemoryEventStore();
 * await store.append('session:1', [{ type: 'session.started', data: { cwd: '/repo' } }]);
 * ```
 */
export function createInMemoryEventStore(options: InMemoryEventStoreOptions = {}): InMemoryEventStore {
  return new MemoryEventStore(resolveStoreOptions(options));
}

class MemoryEventStore implements InMemoryEventStore {
  readonly #options: ResolvedStoreOptions;
  readonly #log: StoredEvent[] = [];
  readonly #streams = new Map<string, StoredEvent[]>();
  readonly #byId = new Map<string, StoredEvent>();
  readonly #snapshots = new Map<string, Map<number, Snapshot>>();
  readonly #notifier = new ChangeNotifier();
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(options: ResolvedStoreOptions) {
    this.#options = options;
  }

  get partition(): string {
    return this.#options.partition;
  }

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<StoredEvent[]> {
    const [stored] = await this.appendToStreams([{ streamId, events, expectedVersion: options.expectedVersion }], {
      signal: options.signal,
    });
    return stored ?? [];
  }

  async appendToStreams(appends: readonly StreamAppend[], options: AppendToStreamsOptions = {}): Promise<StoredEvent[][]> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    const prepared = prepareAppends(appends, this.#options);
    // Check everything before changing anything, so a failed call writes nothing.
    for (const entry of prepared) {
      for (const event of entry.events) {
        const stored = this.#byId.get(event.id);
        if (stored && stored.streamId !== entry.streamId) throw new EventIdConflictError(event.id, entry.streamId, stored.streamId);
      }
      if (entry.events.every((e) => this.#byId.has(e.id))) continue;
      checkExpectedVersion(entry.streamId, entry.expectedVersion, this.#streams.get(entry.streamId)?.length ?? 0);
    }
    const recordedAt = new Date(this.#options.now()).toISOString();
    let wrote = false;
    const result = prepared.map((entry) => {
      let stream = this.#streams.get(entry.streamId);
      return entry.events.map((event) => {
        const existing = this.#byId.get(event.id);
        if (existing) return existing;
        if (!stream) {
          stream = [];
          this.#streams.set(entry.streamId, stream);
        }
        const stored: StoredEvent = deepFreeze({
          id: event.id,
          partition: this.#options.partition,
          streamId: entry.streamId,
          version: stream.length + 1,
          position: String(this.#log.length + 1),
          type: event.type,
          data: event.data,
          metadata: event.metadata,
          occurredAt: event.occurredAt,
          recordedAt,
        });
        stream.push(stored);
        this.#log.push(stored);
        this.#byId.set(stored.id, stored);
        wrote = true;
        return stored;
      });
    });
    if (wrote) this.#notifier.notify();
    return result;
  }

  async read(streamId: string, options: ReadOptions = {}): Promise<StoredEvent[]> {
    this.#assertOpen();
    assertStreamId(streamId);
    const { fromVersion, limit, direction } = resolveReadOptions(options);
    throwIfAborted(options.signal);
    const stream = this.#streams.get(streamId) ?? [];
    if (direction === 'forward') {
      const start = Math.max(1, fromVersion ?? 1) - 1;
      return stream.slice(start, limit === undefined ? undefined : start + limit);
    }
    const end = Math.min(stream.length, fromVersion ?? stream.length);
    const start = limit === undefined ? 0 : Math.max(0, end - limit);
    return stream.slice(start, end).toReversed();
  }

  async streamVersion(streamId: string, options: SignalOptions = {}): Promise<number> {
    this.#assertOpen();
    assertStreamId(streamId);
    throwIfAborted(options.signal);
    return this.#streams.get(streamId)?.length ?? 0;
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    this.#assertOpen();
    const { after, limit, filter } = resolveReadAllOptions(options);
    throwIfAborted(options.signal);
    this.#assertCursor(after);
    return this.#scan(after, limit, filter);
  }

  #assertCursor(after: string | undefined): void {
    if (after !== undefined && Number(parseCursor(after).position) > this.#log.length) throw unknownCursor(after);
  }

  #scan(after: string | undefined, limit: number, filter: NormalizedFilter): StoredEvent[] {
    const out: StoredEvent[] = [];
    // One writer at a time: every position is below the horizon, so a suffix changes nothing.
    for (let i = after === undefined ? 0 : Number(parseCursor(after).position); i < this.#log.length && out.length < limit; i++) {
      const event = this.#log[i]!;
      if (matchesFilter(event, filter)) out.push(event);
    }
    return out;
  }

  async queryOutcomes(query: OutcomeQuery = {}): Promise<OutcomeStats[]> {
    this.#assertOpen();
    resolveOutcomeQuery(query);
    throwIfAborted(query.signal);
    return aggregateOutcomes(this.#log, query);
  }

  async subscribe(options: SubscribeOptions = {}): Promise<Subscription> {
    this.#assertOpen();
    const { streamId } = options;
    if (streamId !== undefined) assertStreamId(streamId);
    const from = resolveSubscribeFrom(options.from, streamId !== undefined);
    let cursor: string | undefined;
    let source: PullSource;
    if (streamId !== undefined) {
      if (options.filter !== undefined) {
        throw new InvalidEventStoreOptionError('filter', options.filter, 'no filter on a stream subscription (filter the global log instead)');
      }
      const version = from.kind === 'end' ? (this.#streams.get(streamId)?.length ?? 0) : from.kind === 'version' ? from.version - 1 : 0;
      cursor = String(version);
      source = {
        notifier: this.#notifier,
        cursorOf: (event: StoredEvent) => String(event.version),
        fetch: async (after: string | undefined, limit: number) => (this.#streams.get(streamId) ?? []).slice(Number(after ?? 0), Number(after ?? 0) + limit),
      };
    } else {
      const filter = normalizeFilter(options.filter);
      cursor = from.kind === 'end' ? String(this.#log.length) : from.kind === 'after' ? from.after : undefined;
      this.#assertCursor(cursor);
      source = {
        notifier: this.#notifier,
        cursorOf: (event: StoredEvent) => event.position,
        fetch: async (after: string | undefined, limit: number) => this.#scan(after, limit, filter),
      };
    }
    // An already aborted signal closes the subscription inside its constructor, before it is assigned.
    let subscription: Subscription | undefined = undefined;
    subscription = createPullSubscription({
      source,
      cursor,
      handler: options.handler,
      onError: options.onError,
      signal: options.signal,
      onClose: () => {
        if (subscription) this.#subscriptions.delete(subscription);
      },
    });
    if (!subscription.closed) this.#subscriptions.add(subscription);
    return subscription;
  }

  async saveSnapshot(streamId: string, version: number, state: JsonValue, options: SignalOptions = {}): Promise<void> {
    this.#assertOpen();
    const json = prepareSnapshot(streamId, version, state, this.#options.maxEventBytes);
    throwIfAborted(options.signal);
    let byVersion = this.#snapshots.get(streamId);
    if (!byVersion) this.#snapshots.set(streamId, (byVersion = new Map()));
    byVersion.set(version, { streamId, version, state: json as unknown as JsonValue, savedAt: new Date(this.#options.now()).toISOString() });
  }

  async loadSnapshot(streamId: string, options: SignalOptions = {}): Promise<Snapshot | undefined> {
    this.#assertOpen();
    assertStreamId(streamId);
    throwIfAborted(options.signal);
    const byVersion = this.#snapshots.get(streamId);
    if (!byVersion || byVersion.size === 0) return undefined;
    const best = [...byVersion.values()].reduce((a, b) => (b.version > a.version ? b : a));
    // Stored as text so every load hands out a fresh object, like a database would.
    return { ...best, state: JSON.parse(best.state as unknown as string) as JsonValue };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.unsubscribe()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('event store');
  }
}

function unknownCursor(after: string): InvalidEventStoreOptionError {
  return new InvalidEventStoreOptionError('after', after, 'the position of an event of this partition (or "0" for the start)');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
