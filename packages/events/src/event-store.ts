/**
 * The `EventStore` port: the durable, ordered log every Buckley component writes to and reads
 * from (ARCHITECTURE §4). Adapters: `InMemoryEventStore` here, `PostgresEventStore` and the
 * embedded PGlite store in `@buckley/postgres`. All of them pass the same conformance suite
 * (`describeEventStoreConformance` in `@buckley/testing`).
 */

/** A JSON primitive. Numbers must be finite. */
export type JsonPrimitive = string | number | boolean | null;

/** Any JSON value. */
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;

/** A plain JSON object: no class instances, no `undefined` members, no cycles. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** How an attributed action ended. */
export type Outcome = 'success' | 'failure' | 'timeout' | 'cancelled' | 'denied';

/** The outcomes in a stable order, for validation and documentation. */
export const OUTCOMES: readonly Outcome[] = ['success', 'failure', 'timeout', 'cancelled', 'denied'];

/**
 * Attribution carried by every event so that experiments and failures can be queried by
 * session, plan, task, model, tool, agent and outcome. Every field is optional. Further keys
 * are allowed and must hold JSON values; they are stored but not indexed.
 */
export interface EventMetadata {
  readonly sessionId?: string;
  readonly planId?: string;
  readonly taskId?: string;
  readonly experimentId?: string;
  readonly modelId?: string;
  readonly toolName?: string;
  readonly agentId?: string;
  /** 1-based attempt number of a retried action; an integer >= 1. */
  readonly attempt?: number;
  readonly outcome?: Outcome;
  /** How long the action took, in milliseconds; finite and >= 0. */
  readonly durationMs?: number;
  readonly correlationId?: string;
  /** The id of the event that caused this one. */
  readonly causationId?: string;
  /** W3C trace id (32 lower-case hex characters) when the action ran under a trace. */
  readonly traceId?: string;
  readonly spanId?: string;
  /** The runtime node (machine or process) that produced the event. */
  readonly nodeId?: string;
  readonly [key: string]: JsonValue | undefined;
}

/** The attribution keys an {@link EventFilter} can select on (and adapters index). */
export const ATTRIBUTION_KEYS = ['sessionId', 'planId', 'taskId', 'experimentId', 'modelId', 'toolName', 'agentId'] as const;

/** One of {@link ATTRIBUTION_KEYS}. */
export type AttributionKey = (typeof ATTRIBUTION_KEYS)[number];

/**
 * An event to append. The store assigns `version`, `position` and `recordedAt`; a missing `id`
 * gets a fresh UUIDv7 and a missing `occurredAt` the store clock's now.
 */
export interface NewEvent<Type extends string = string, Data extends JsonObject = JsonObject> {
  /**
   * A UUID (v7 recommended) that makes the append idempotent: appending an event whose id is
   * already stored in the same stream writes nothing and returns the stored event. Ids are
   * unique in the log: one stored in another stream fails the call with
   * `EventIdConflictError` (naming both streams), and nothing of the call is written.
   */
  readonly id?: string;
  /** Dotted lower-case name, e.g. `tool.run.completed`. */
  readonly type: Type;
  /** The payload; a plain JSON object. */
  readonly data: Data;
  readonly metadata?: EventMetadata;
  /** When it happened; stored with millisecond precision. */
  readonly occurredAt?: Date | string;
}

/** An event as stored: the envelope of ARCHITECTURE §4. Plain JSON, safe to serialise as is. */
export interface StoredEvent<Type extends string = string, Data extends JsonObject = JsonObject> {
  /** UUID, unique across the store. */
  readonly id: string;
  /** Tenant key, `'default'` unless the store was configured otherwise. */
  readonly partition: string;
  readonly streamId: string;
  /** 1-based and contiguous within the stream. */
  readonly version: number;
  /**
   * The event's place in the global log, a decimal bigint as a string, and the cursor to resume
   * from: pass it as the `after` of {@link EventStore.readAll} or `from: { after }` of a
   * subscription. Every position any method hands out is a safe cursor: resuming from it never
   * skips an event that commits later, whichever method returned it.
   *
   * Positions are unique; adapters that must stay gap-safe under concurrent writers (Postgres)
   * may deliver two concurrently committed events in an order that differs from their numeric
   * order, so resume from a position instead of comparing positions numerically. On such
   * adapters a position returned by `append()` while an older transaction was still open
   * carries a suffix, `<position>~<horizon>`. Resuming from such a cursor reads the log from
   * that horizon: the events of every transaction still open when the append committed (they
   * land before it in the log), the appended events themselves, and everything after, each
   * once and in log order; it may also return events that committed concurrently just before
   * the append. Use {@link eventPosition} for the plain position; `readAll` and subscriptions
   * always deliver plain positions, which resume exactly after their event.
   */
  readonly position: string;
  readonly type: Type;
  /** A fresh copy: never the object that was passed to `append`. */
  readonly data: Data;
  /** `{}` when the event had none. */
  readonly metadata: EventMetadata;
  /** ISO-8601 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`. */
  readonly occurredAt: string;
  /** When the store committed it; ISO-8601 UTC with milliseconds. */
  readonly recordedAt: string;
}

/**
 * The optimistic-concurrency check of an append:
 * - a number `n`: the stream's current version must be exactly `n` (`0` = the stream has no events);
 * - `'any'`: no check;
 * - `'no_stream'`: the stream must have no events;
 * - `'exists'`: the stream must have at least one event.
 */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'exists';

/** Options of {@link EventStore.append}. */
export interface AppendOptions {
  /** Defaults to `'any'`. A mismatch throws `WrongExpectedVersionError`. */
  readonly expectedVersion?: ExpectedVersion;
  /** An already aborted signal rejects before anything is written. */
  readonly signal?: AbortSignal;
}

/** One stream's part of an atomic multi-stream append. */
export interface StreamAppend {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  /** Defaults to `'any'`. */
  readonly expectedVersion?: ExpectedVersion;
}

/** Options of {@link EventStore.appendToStreams}. */
export interface AppendToStreamsOptions {
  readonly signal?: AbortSignal;
}

/** Options of {@link EventStore.read}. */
export interface ReadOptions {
  /**
   * First version to return, inclusive. Forward reads default to 1 (`0` also means from the
   * start); backward reads default to the stream's head.
   */
  readonly fromVersion?: number;
  /** Most events to return; an integer >= 1. Unbounded by default. */
  readonly limit?: number;
  /** `'forward'` (ascending versions, the default) or `'backward'`. */
  readonly direction?: 'forward' | 'backward';
  readonly signal?: AbortSignal;
}

/**
 * Selects events of the global log. Every given field must match (AND); an array field matches
 * any of its values (OR).
 */
export interface EventFilter {
  /** Exact event types. */
  readonly types?: readonly string[];
  /** Type prefixes such as `'tool.run.'`; an event matches when its type starts with one. */
  readonly typePrefix?: string | readonly string[];
  readonly sessionId?: string;
  readonly planId?: string;
  readonly taskId?: string;
  readonly experimentId?: string;
  readonly modelId?: string;
  readonly toolName?: string;
  readonly agentId?: string;
  readonly outcome?: Outcome | readonly Outcome[];
  /** Only events with `occurredAt >= occurredFrom`. */
  readonly occurredFrom?: Date | string;
  /** Only events with `occurredAt < occurredBefore`. */
  readonly occurredBefore?: Date | string;
}

/** Options of {@link EventStore.readAll}. */
export interface ReadAllOptions {
  /**
   * Return only events after the one at this position (keyset pagination: pass the last
   * position of the previous page), as any method returned it, suffix included (see
   * {@link StoredEvent.position}). Omit to start at the beginning of the log. A position of
   * no event of this partition is refused with `InvalidEventStoreOptionError`.
   */
  readonly after?: string;
  /** Most events to return; an integer >= 1, default 1000. */
  readonly limit?: number;
  readonly filter?: EventFilter;
  readonly signal?: AbortSignal;
}

/** Options carrying only a signal. */
export interface SignalOptions {
  readonly signal?: AbortSignal;
}

/** Where a subscription starts. */
export type SubscribeFrom =
  /** The whole stream or log (the default). */
  | 'start'
  /** Only events appended after the subscription was set up. */
  | 'end'
  /** Stream subscriptions: from this version, inclusive. */
  | { readonly version: number }
  /** Log subscriptions: after the event at this position, exclusive. */
  | { readonly after: string };

/** Called for each delivered event. A rejection or throw goes to `onError`; delivery goes on. */
export type EventHandler = (event: StoredEvent) => void | Promise<void>;

/** Options of {@link EventStore.subscribe}. */
export interface SubscribeOptions {
  /** Follow one stream (ordered by version). Omit to follow the global log (ordered by position). */
  readonly streamId?: string;
  /** Defaults to `'start'`. */
  readonly from?: SubscribeFrom;
  /** Global-log subscriptions only: deliver just the matching events. */
  readonly filter?: EventFilter;
  /**
   * Push mode: the store calls `handler` for each event, one at a time, awaiting it. Without
   * a handler the subscription is consumed as an async iterator.
   */
  readonly handler?: EventHandler;
  /**
   * Receives the errors of `handler` (with the event) and of the subscription's own reads
   * that it retries. Never throws back into the store.
   */
  readonly onError?: (error: unknown, event?: StoredEvent) => void;
  /** Aborting unsubscribes. */
  readonly signal?: AbortSignal;
}

/**
 * A live subscription: catch-up from its start, then live, with no gap and no duplicate at the
 * seam. Each subscription reads at its own pace, so a slow or failing consumer never holds up
 * another. Iterate it with `for await` (pull mode) or give a `handler` (push mode).
 */
export interface Subscription extends AsyncIterable<StoredEvent>, AsyncDisposable {
  /**
   * Stops delivery at once: no handler call and no iterator value after this returns, even for
   * events already read. Idempotent. Resolves when an in-flight handler call has finished.
   */
  unsubscribe(): Promise<void>;
  /** True after {@link unsubscribe} (or abort, or the store's close). */
  readonly closed: boolean;
  /** The position (log) or version (stream, as a string) of the last delivered event, if any. */
  readonly lastDelivered: string | undefined;
}

/** A saved snapshot of a stream's state at a version. */
export interface Snapshot<State extends JsonValue = JsonValue> {
  readonly streamId: string;
  readonly version: number;
  /** A fresh copy, parsed from storage. */
  readonly state: State;
  /** ISO-8601 UTC with milliseconds. */
  readonly savedAt: string;
}

/**
 * The event log. Versions are 1-based and contiguous per stream and assigned by the store;
 * appends are atomic (also across streams); reading an unknown stream creates nothing.
 * Every method rejects with `ClosedError` of `@buckley/utils` (code `CLOSED`) after {@link close}.
 *
 * @example
 * ```ts
 * const stored = await store.append('session:1', [{ type: 'session.started', data: {} }], {
 *   expectedVersion: 'no_stream',
 * });
 * const page = await store.readAll({ filter: { sessionId: '1', typePrefix: 'tool.run.' } });
 * ```
 */
export interface EventStore extends AsyncDisposable {
  /** The tenant partition this store reads and writes. */
  readonly partition: string;

  /**
   * Appends `events` to `streamId` atomically and returns them as stored, in order. Events
   * whose `id` is already stored are not written again: they come back as stored, and when
   * every event of the call is already stored nothing is checked or written. An empty list
   * is a no-op returning `[]`.
   *
   * @throws {WrongExpectedVersionError} when `expectedVersion` does not hold
   * @throws {InvalidEventError} when an event is malformed; nothing of the call is written
   * @throws {InvalidStreamIdError} / {InvalidExpectedVersionError} for bad arguments
   * @throws {EventStoreUnavailableError} (retryable) when the backend failed mid-call; nothing was written
   */
  append(streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<StoredEvent[]>;

  /**
   * Appends to several streams in one atomic step: every stream's expected version must hold
   * or nothing is written. Returns the stored events per input entry. A stream may appear at
   * most once.
   */
  appendToStreams(appends: readonly StreamAppend[], options?: AppendToStreamsOptions): Promise<StoredEvent[][]>;

  /** Events of one stream; an unknown stream reads as `[]`. */
  read(streamId: string, options?: ReadOptions): Promise<StoredEvent[]>;

  /** The stream's current version: `0` for an unknown or empty stream. */
  streamVersion(streamId: string, options?: SignalOptions): Promise<number>;

  /**
   * A page of the global log in log order. Never skips an event that commits after a later
   * one is already visible (gap safety): a page ends before any event that may still commit.
   */
  readAll(options?: ReadAllOptions): Promise<StoredEvent[]>;

  /**
   * Starts a subscription. Resolves once its start is fixed: every event appended after the
   * promise resolves is delivered (and, with `from: 'start'`, every event before it too).
   */
  subscribe(options?: SubscribeOptions): Promise<Subscription>;

  /** Saves `state` as the snapshot of `streamId` at `version`, replacing one at the same version. */
  saveSnapshot(streamId: string, version: number, state: JsonValue, options?: SignalOptions): Promise<void>;

  /** The snapshot with the highest version, or `undefined` when the stream has none. */
  loadSnapshot(streamId: string, options?: SignalOptions): Promise<Snapshot | undefined>;

  /**
   * Ends every subscription and releases what the store opened (never a client the caller
   * passed in). Idempotent. Later calls reject with `ClosedError` (code `CLOSED`).
   */
  close(): Promise<void>;
}

/** Options shared by every adapter's factory. */
export interface EventStoreOptions {
  /** Tenant partition; `'default'` unless given. */
  readonly partition?: string;
  /** Largest serialised `data` + `metadata` of one event, in bytes; default 1 MiB. */
  readonly maxEventBytes?: number;
  /** Source of `occurredAt` defaults; `Date.now()` unless given. */
  readonly now?: () => number;
}

/** Default of {@link EventStoreOptions.maxEventBytes}: 1 MiB. */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

/** Default page size of {@link EventStore.readAll}. */
export const DEFAULT_READ_ALL_LIMIT = 1000;
