import {
  type AppendOptions,
  type AppendToStreamsOptions,
  EventIdConflictError,
  type EventStore,
  EventStoreError,
  EventStoreErrorCode,
  type EventStoreOptions,
  EventStoreUnavailableError,
  InvalidEventStoreOptionError,
  type JsonValue,
  type NewEvent,
  OUTCOMES,
  type Outcome,
  type OutcomeGroupKey,
  type OutcomeQueries,
  type OutcomeQuery,
  type OutcomeStats,
  type ReadAllOptions,
  type ReadOptions,
  type SignalOptions,
  type Snapshot,
  type StoredEvent,
  type StreamAppend,
  type SubscribeOptions,
  type Subscription,
  WrongExpectedVersionError,
  isEventStoreError,
} from '@buckley/events';
import {
  ChangeNotifier,
  type NormalizedFilter,
  type PreparedAppend,
  type PullSource,
  type ResolvedOutcomeQuery,
  type ResolvedStoreOptions,
  assertStreamId,
  createPullSubscription,
  normalizeFilter,
  parseCursor,
  prepareAppends,
  prepareSnapshot,
  resolveOutcomeQuery,
  resolveReadAllOptions,
  resolveReadOptions,
  resolveSubscribeFrom,
} from '@buckley/events/adapter';
import { ClosedError, isBuckleyError, throwIfAborted } from '@buckley/utils';
import { CompiledQuery, type RawBuilder, sql } from 'kysely';
import { APPEND_AFTER_WRITE_SQLSTATE, type AnyKysely, EVENT_ID_CONFLICT_SQLSTATE, WRONG_EXPECTED_VERSION_SQLSTATE, notifyChannel } from './schema.js';

/** What the store needs from its database beyond queries: wake-ups across connections. */
export interface EventStoreBackend {
  readonly db: AnyKysely;
  /**
   * Starts delivering notifications on `channel` to `onNotify`; also calls it after a lost
   * listening connection is re-established, since notifications sent meanwhile are gone.
   * Returns a function that stops listening.
   */
  listen(channel: string, onNotify: () => void, onError: (error: unknown) => void): Promise<() => Promise<void>>;
  /** Releases what the backend itself opened (never a client the caller passed in). */
  close(): Promise<void>;
  /**
   * NOTIFY inside each append's transaction (a single-connection embedded database, where
   * commits cannot contend) instead of in a separate statement after it.
   */
  readonly notifyInTransaction: boolean;
  /**
   * Runs one statement as a named prepared statement (parsed and planned once per
   * connection). Without it, statements go through `db` unprepared.
   */
  readonly prepared?: (name: string, text: string, values: readonly unknown[]) => Promise<{ rows: unknown[] }>;
}

/** Options shared by the Postgres and PGlite factories. */
export interface SqlEventStoreOptions extends EventStoreOptions {
  /** Schema of the tables; default `buckley`. */
  readonly schema?: string;
  /** Run the migrations when the store is created (default `true`). */
  readonly migrate?: boolean;
  /**
   * Longest time a subscription waits without a notification before it reads again, in
   * milliseconds (default 1000). Bounds the delay when the snapshot horizon moves without a
   * notification (an unrelated long transaction ended) or a notification was lost.
   */
  readonly pollMs?: number;
}

interface EventRow {
  position: string | number | bigint;
  stream_id: string;
  version: string | number | bigint;
  event_id: string;
  type: string;
  data: unknown;
  metadata: unknown;
  occurred_at: Date | string;
  recorded_at: Date | string;
  horizon?: string;
  xid?: string | null;
}

/** The column of the outcomes table that holds each group key. */
const OUTCOME_COLUMNS: Readonly<Record<OutcomeGroupKey, string>> = {
  sessionId: 'session_id',
  planId: 'plan_id',
  taskId: 'task_id',
  experimentId: 'experiment_id',
  modelId: 'model_id',
  toolName: 'tool_name',
  agentId: 'agent_id',
  type: 'type',
};

type OutcomeRow = Record<string, string | number | null>;

function toOutcomeStats(row: OutcomeRow, groupBy: readonly OutcomeGroupKey[]): OutcomeStats {
  const group: Partial<Record<OutcomeGroupKey, string | null>> = {};
  groupBy.forEach((key, i) => {
    const value = row[`g${i}`];
    group[key] = value === null || value === undefined ? null : String(value);
  });
  const runs = Number(row.runs);
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, Number(row[o])])) as Record<Outcome, number>;
  const orNull = (value: string | number | null | undefined) => (value === null || value === undefined ? null : Number(value));
  return {
    group,
    runs,
    outcomes,
    successRate: outcomes.success / runs,
    timedRuns: Number(row.timed),
    p50DurationMs: orNull(row.p50),
    p95DurationMs: orNull(row.p95),
    inputTokens: Number(row.input_tokens),
    cachedInputTokens: Number(row.cached_input_tokens),
    outputTokens: Number(row.output_tokens),
    costUsd: Number(row.cost_usd),
  };
}

/** Shortest gap between two NOTIFYs of one store during a burst of appends. */
const NOTIFY_INTERVAL_MS = 2;

const EXPECTED_CODES = { any: -1, no_stream: -2, exists: -3 } as const;

/**
 * What {@link createPostgresEventStore} and {@link createPGliteEventStore} return: the
 * `EventStore` port, its `OutcomeQueries`, and the query plans of both, for checking which index
 * serves a filter.
 */
export interface PostgresEventStore extends EventStore, OutcomeQueries {
  /** The plan Postgres chooses for a `readAll` with these options (`EXPLAIN` text lines). */
  explainReadAll(options?: ReadAllOptions): Promise<string[]>;
  /** The plan Postgres chooses for an outcome query (`EXPLAIN` text lines). */
  explainOutcomes(query?: OutcomeQuery): Promise<string[]>;
}

/**
 * The event store over Postgres SQL, shared by the server (`pg`) and embedded (PGlite)
 * factories: the same tables, the same `append_events` function, the same queries.
 */
export class SqlEventStore implements PostgresEventStore {
  readonly #backend: EventStoreBackend;
  readonly #db: AnyKysely;
  readonly #options: ResolvedStoreOptions;
  readonly #schema: string;
  readonly #channel: string;
  readonly #pollMs: number;
  readonly #appendName: string;
  readonly #appendText: string;
  readonly #notifier = new ChangeNotifier();
  readonly #subscriptions = new Set<Subscription>();
  /** Log reads of subscriptions under way, by cursor, page size and filter (see {@link #sharedReadLog}). */
  readonly #sharedReads = new Map<string, { readonly generation: number; readonly page: Promise<StoredEvent[]> }>();
  /** The one poll of all this store's subscriptions (see {@link #trackSubscription}). */
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #stopListening: Promise<() => Promise<void>> | undefined;
  #notifying: Promise<void> | undefined;
  #notifyAgain = false;
  #closed = false;

  /** @internal use {@link createPostgresEventStore} or {@link createPGliteEventStore} */
  constructor(backend: EventStoreBackend, schema: string, options: ResolvedStoreOptions, pollMs: number) {
    this.#backend = backend;
    this.#db = backend.db;
    this.#options = options;
    this.#schema = schema;
    this.#channel = notifyChannel(schema);
    this.#pollMs = pollMs;
    // The append statement is the same for every call: its text is built once (schema names are
    // plain identifiers, checked by the factories) rather than compiled by kysely per call.
    const isoSql = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    this.#appendName = `${schema}_append_events`;
    // horizon: the oldest transaction running when the statement started (it runs before the
    // function, so it is never above a transaction that took its id meanwhile); xid: this
    // transaction's id, read after the function wrote (the _if_assigned form never assigns one).
    this.#appendText = `SELECT f.position, f.event_id, f.stream_id, f.version, f.type, f.data, f.metadata,
        ${isoSql('f.occurred_at')} AS occurred_at, ${isoSql('f.recorded_at')} AS recorded_at,
        pg_snapshot_xmin(pg_current_snapshot())::text AS horizon, pg_current_xact_id_if_assigned()::text AS xid
      FROM "${schema}".append_events($1::text, $2::text[], $3::bigint[], $4::int[], $5::int[], $6::uuid[], $7::text[],
        $8::jsonb, $9::jsonb, $10::timestamptz[], $11::text, $12::boolean) AS f`;
  }

  async #appendCall(values: readonly unknown[]): Promise<EventRow[]> {
    const { prepared } = this.#backend;
    if (prepared) return (await prepared(this.#appendName, this.#appendText, values)).rows as EventRow[];
    return (await this.#db.executeQuery<EventRow>(CompiledQuery.raw(this.#appendText, [...values]))).rows;
  }

  get partition(): string {
    return this.#options.partition;
  }

  #t(name: string): RawBuilder<unknown> {
    return sql.id(this.#schema, name) as unknown as RawBuilder<unknown>;
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
    const flat = prepared.flatMap((entry) => entry.events.map((event) => ({ entry, event })));
    if (flat.length === 0) return prepared.map(() => []);
    const values = [
      this.#options.partition,
      prepared.map((p) => p.streamId),
      prepared.map((p) => (typeof p.expectedVersion === 'number' ? p.expectedVersion : EXPECTED_CODES[p.expectedVersion])),
      prepared.map((p) => p.events.length),
      prepared.flatMap((p, i) => p.events.map(() => i + 1)),
      flat.map((f) => f.event.id),
      flat.map((f) => f.event.type),
      `[${flat.map((f) => f.event.dataJson).join(',')}]`,
      `[${flat.map((f) => f.event.metadataJson).join(',')}]`,
      flat.map((f) => f.event.occurredAt),
      this.#backend.notifyInTransaction ? this.#channel : null,
    ];
    const call = (probe: boolean) => this.#appendCall([...values, probe]);
    let rows: EventRow[];
    try {
      rows = await call(false);
    } catch (error) {
      // The first try does not look for stored ids (the unique key on event_id notices them):
      // a unique violation means some id is stored, by an earlier call or by a concurrent one
      // that has committed since, and the second try looks them up and returns them. A pooled
      // connection found dead before the call was sent is also safe to try again. Any other
      // failure is the caller's to retry (the ids make that retry idempotent).
      const duplicate = sqlState(error) === '23505';
      if (!duplicate && !neverSent(error)) throw this.#mapAppendError(error, prepared);
      try {
        rows = await call(duplicate);
      } catch (again) {
        throw this.#mapAppendError(again, prepared);
      }
    }
    const byId = new Map(rows.map((row) => [row.event_id, row]));
    let wrote = false;
    const result = prepared.map((entry) =>
      entry.events.map((event) => {
        const row = byId.get(event.id);
        if (!row) {
          throw new EventStoreError(EventStoreErrorCode.Backend, `append returned no row for event ${JSON.stringify(event.id)}`);
        }
        if (row.data === null) {
          wrote = true;
          const stored = this.#toEvent({ ...row, data: event.data, metadata: event.metadata });
          // An older transaction may still be open and land before this event in the log when
          // it commits: the returned position says where a reader resuming from it must look.
          const unsafe = row.xid != null && row.horizon !== undefined && BigInt(row.horizon) < BigInt(row.xid);
          return unsafe ? { ...stored, position: `${stored.position}~${row.horizon}` } : stored;
        }
        return this.#toEvent(row);
      }),
    );
    if (wrote) this.#wake();
    return result;
  }

  async read(streamId: string, options: ReadOptions = {}): Promise<StoredEvent[]> {
    this.#assertOpen();
    assertStreamId(streamId);
    const { fromVersion, limit, direction } = resolveReadOptions(options);
    throwIfAborted(options.signal);
    const forward = direction === 'forward';
    const bound = fromVersion === undefined ? sql`` : forward ? sql`AND version >= ${fromVersion}` : sql`AND version <= ${fromVersion}`;
    const query = sql<EventRow>`
      SELECT position, stream_id, version, event_id, type, data, metadata,
             ${isoText('occurred_at')} AS occurred_at, ${isoText('recorded_at')} AS recorded_at
        FROM ${this.#t('events')}
       WHERE partition = ${this.#options.partition} AND stream_id = ${streamId} ${bound}
       ORDER BY version ${forward ? sql`ASC` : sql`DESC`}
       ${limit === undefined ? sql`` : sql`LIMIT ${limit}`}`;
    return (await this.#run(query)).map((row) => this.#toEvent(row));
  }

  async streamVersion(streamId: string, options: SignalOptions = {}): Promise<number> {
    this.#assertOpen();
    assertStreamId(streamId);
    throwIfAborted(options.signal);
    const rows = await this.#run(sql<{ version: string }>`
      SELECT version FROM ${this.#t('events')} WHERE partition = ${this.#options.partition} AND stream_id = ${streamId}
       ORDER BY version DESC LIMIT 1`);
    return rows.length === 0 ? 0 : Number(rows[0]!.version);
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    this.#assertOpen();
    const { after, limit, filter } = resolveReadAllOptions(options);
    throwIfAborted(options.signal);
    const page = await this.#readLog(after, limit, filter);
    // An unknown cursor matches nothing; say so instead of returning an empty page forever.
    if (page.length === 0) await this.#assertCursor(after);
    return page;
  }

  async #assertCursor(after: string | undefined): Promise<void> {
    if (after === undefined || after === '0') return;
    const rows = await this.#run(sql`
      SELECT 1 FROM ${this.#t('events')} WHERE partition = ${this.#options.partition} AND position = ${parseCursor(after).position}::bigint`);
    if (rows.length === 0) {
      throw new InvalidEventStoreOptionError('after', after, 'the position of an event of this partition (or "0" for the start)');
    }
  }

  /**
   * The query behind `readAll` and log subscriptions. Log order is (transaction id, position)
   * and only rows of transactions older than the oldest running one are read, so the visible
   * log only ever grows at its end (see README, "Gap safety").
   */
  #logQuery(after: string | undefined, limit: number, filter: NormalizedFilter, explain = false): RawBuilder<EventRow> {
    const partition = this.#options.partition;
    const conditions = [sql`e.partition = ${partition}`, sql`e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())`];
    const cursor = after === undefined || after === '0' ? undefined : parseCursor(after);
    if (cursor?.horizon !== undefined) {
      // A position append() returned while older transactions were open: read from the oldest
      // of them, since every event of a transaction still open then sorts at or after it. The
      // appended events come again too: skipping them would need state that a plain position
      // of a later page cannot carry.
      conditions.push(sql`e.transaction_id >= ${cursor.horizon}::xid8`);
      conditions.push(sql`EXISTS (SELECT 1 FROM ${this.#t('events')} c
         WHERE c.partition = ${partition} AND c.position = ${cursor.position}::bigint)`);
    } else if (cursor !== undefined) {
      conditions.push(sql`(e.transaction_id, e.position) > (
        SELECT c.transaction_id, c.position FROM ${this.#t('events')} c
         WHERE c.partition = ${partition} AND c.position = ${cursor.position}::bigint)`);
    }
    if (filter.types) conditions.push(sql`e.type = ANY (${filter.types}::text[])`);
    if (filter.typePrefixes) {
      conditions.push(
        sql`(${sql.join(
          filter.typePrefixes.map((p) => sql`e.type LIKE ${escapeLike(p) + '%'}`),
          sql` OR `,
        )})`,
      );
    }
    for (const [key, value] of filter.attribution) conditions.push(sql`(e.metadata->>${sql.lit(key)}) = ${value}`);
    if (filter.outcomes) {
      conditions.push(
        filter.outcomes.length === 1 ? sql`(e.metadata->>'outcome') = ${filter.outcomes[0]}` : sql`(e.metadata->>'outcome') = ANY (${filter.outcomes}::text[])`,
      );
    }
    if (filter.occurredFrom) conditions.push(sql`e.occurred_at >= ${filter.occurredFrom}::timestamptz`);
    if (filter.occurredBefore) conditions.push(sql`e.occurred_at < ${filter.occurredBefore}::timestamptz`);
    return sql<EventRow>`${explain ? sql`EXPLAIN ` : sql``}
      SELECT e.position, e.stream_id, e.version, e.event_id, e.type, e.data, e.metadata,
             ${isoText('e.occurred_at')} AS occurred_at, ${isoText('e.recorded_at')} AS recorded_at
        FROM ${this.#t('events')} e
       WHERE ${sql.join(conditions, sql` AND `)}
       ORDER BY e.transaction_id, e.position
       LIMIT ${limit}`;
  }

  async #readLog(after: string | undefined, limit: number, filter: NormalizedFilter): Promise<StoredEvent[]> {
    return (await this.#run(this.#logQuery(after, limit, filter))).map((row) => this.#toEvent(row));
  }

  /**
   * The plan Postgres chooses for a `readAll` with these options (`EXPLAIN` text lines), so
   * tests and docs can show which index serves a filter.
   */
  async explainReadAll(options: ReadAllOptions = {}): Promise<string[]> {
    this.#assertOpen();
    const { after, limit, filter } = resolveReadAllOptions(options);
    const rows = await this.#run(this.#logQuery(after, limit, filter, true) as unknown as RawBuilder<Record<string, string>>);
    return rows.map((row) => Object.values(row)[0]!);
  }

  async queryOutcomes(query: OutcomeQuery = {}): Promise<OutcomeStats[]> {
    this.#assertOpen();
    const resolved = resolveOutcomeQuery(query);
    throwIfAborted(query.signal);
    const rows = await this.#run(this.#outcomeQuery(resolved));
    return rows.filter((row) => Number(row.runs) > 0).map((row) => toOutcomeStats(row, resolved.groupBy));
  }

  /** The plan Postgres chooses for an outcome query (`EXPLAIN` text lines). */
  async explainOutcomes(query: OutcomeQuery = {}): Promise<string[]> {
    this.#assertOpen();
    const rows = await this.#run(this.#outcomeQuery(resolveOutcomeQuery(query), true) as unknown as RawBuilder<Record<string, string>>);
    return rows.map((row) => Object.values(row)[0]!);
  }

  #outcomeQuery(query: ResolvedOutcomeQuery, explain = false): RawBuilder<OutcomeRow> {
    const { filter, groupBy } = query;
    const conditions = [sql`o.partition = ${this.#options.partition}`];
    if (filter.types) conditions.push(sql`o.type = ANY (${filter.types}::text[])`);
    if (filter.typePrefixes) {
      conditions.push(
        sql`(${sql.join(
          filter.typePrefixes.map((p) => sql`o.type LIKE ${escapeLike(p) + '%'}`),
          sql` OR `,
        )})`,
      );
    }
    for (const [key, value] of filter.attribution) conditions.push(sql`${sql.ref(`o.${OUTCOME_COLUMNS[key]}`)} = ${value}`);
    if (filter.outcomes) conditions.push(sql`o.outcome = ANY (${filter.outcomes}::text[])`);
    if (filter.occurredFrom) conditions.push(sql`o.occurred_at >= ${filter.occurredFrom}::timestamptz`);
    if (filter.occurredBefore) conditions.push(sql`o.occurred_at < ${filter.occurredBefore}::timestamptz`);
    const groups = groupBy.map((key) => sql.ref(`o.${OUTCOME_COLUMNS[key]}`));
    const counts = OUTCOMES.map((o) => sql`count(*) FILTER (WHERE o.outcome = ${sql.lit(o)}) AS ${sql.id(o)}`);
    return sql<OutcomeRow>`${explain ? sql`EXPLAIN ` : sql``}
      SELECT ${sql.join([...groups.map((g, i) => sql`${g} AS ${sql.id(`g${i}`)}`), sql`count(*) AS runs`], sql`, `)},
             ${sql.join(counts, sql`, `)},
             count(o.duration_ms) AS timed,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY o.duration_ms) AS p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY o.duration_ms) AS p95,
             coalesce(sum(o.input_tokens), 0)::float8 AS input_tokens,
             coalesce(sum(o.cached_input_tokens), 0)::float8 AS cached_input_tokens,
             coalesce(sum(o.output_tokens), 0)::float8 AS output_tokens,
             round(coalesce(sum(o.cost_usd), 0), 9)::float8 AS cost_usd
        FROM ${this.#t('outcomes')} o
       WHERE ${sql.join(conditions, sql` AND `)}
       ${
         groups.length === 0
           ? sql``
           : sql`GROUP BY ${sql.join(groups, sql`, `)} ORDER BY ${sql.join(
               groups.map((g) => sql`${g} NULLS LAST`),
               sql`, `,
             )}`
       }`;
  }

  async subscribe(options: SubscribeOptions = {}): Promise<Subscription> {
    this.#assertOpen();
    const { streamId } = options;
    if (streamId !== undefined) assertStreamId(streamId);
    const from = resolveSubscribeFrom(options.from, streamId !== undefined);
    if (streamId !== undefined && options.filter !== undefined) {
      throw new InvalidEventStoreOptionError('filter', options.filter, 'no filter on a stream subscription (filter the global log instead)');
    }
    const filter = normalizeFilter(options.filter);
    // The filter's part of the shared-read key, built once rather than on every fetch.
    const filterKey = JSON.stringify(filter);
    await this.#ensureListening();
    let cursor: string | undefined;
    let source: PullSource;
    if (streamId !== undefined) {
      const start = from.kind === 'end' ? await this.streamVersion(streamId) : from.kind === 'version' ? from.version - 1 : 0;
      cursor = String(start);
      source = {
        notifier: this.#notifier,
        cursorOf: (event) => String(event.version),
        fetch: (after, limit) => this.read(streamId, { fromVersion: Number(after ?? 0) + 1, limit }),
      };
    } else {
      cursor = from.kind === 'after' ? from.after : from.kind === 'end' ? await this.#logHead() : undefined;
      await this.#assertCursor(cursor);
      source = {
        notifier: this.#notifier,
        cursorOf: (event) => event.position,
        fetch: (after, limit) => {
          this.#assertOpen();
          return this.#sharedReadLog(after, limit, filter, filterKey);
        },
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
      // The store's poll wakes every subscription at once, every pollMs (so caught-up ones share
      // one read); a subscription's own timer is only the fallback.
      pollMs: this.#pollMs * 2,
      onClose: () => {
        if (subscription) this.#untrackSubscription(subscription);
      },
    });
    if (!subscription.closed) this.#trackSubscription(subscription);
    return subscription;
  }

  /**
   * One poll per store: while any subscription is open, every `pollMs` the notifier wakes them
   * all together, instead of a timer per subscription, so caught-up subscriptions read together
   * and share one query. The poll catches events that became readable without a notification
   * (the snapshot horizon moved when an unrelated transaction ended).
   */
  #trackSubscription(subscription: Subscription): void {
    this.#subscriptions.add(subscription);
    if (this.#pollTimer === undefined) {
      this.#pollTimer = setInterval(() => this.#notifier.notify(), this.#pollMs);
      this.#pollTimer.unref();
    }
  }

  #untrackSubscription(subscription: Subscription): void {
    this.#subscriptions.delete(subscription);
    if (this.#subscriptions.size === 0 && this.#pollTimer !== undefined) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
    }
  }

  /**
   * A log read for a subscription. Subscriptions that ask for the same page (same cursor, page
   * size and filter, `filterKey` being the subscription's filter as JSON: caught-up subscriptions
   * after the same wake-up) share one query and each
   * get their own copy of its rows, so 100 live clients cost one read per append, not 100. A
   * read is joined only while no wake-up happened since it was sent: a subscription that saw a
   * later notification gets a fresh read that sees its event. Any page read from a cursor is
   * the right page for every subscription at that cursor (the visible log only grows at its
   * end), so sharing changes neither gap safety nor order.
   */
  #sharedReadLog(after: string | undefined, limit: number, filter: NormalizedFilter, filterKey: string): Promise<StoredEvent[]> {
    const key = `${after ?? ''} ${limit} ${filterKey}`;
    const generation = this.#notifier.generation;
    const current = this.#sharedReads.get(key);
    if (current !== undefined && current.generation === generation) return current.page.then((page) => page.slice());
    const page = this.#readLog(after, limit, filter);
    const entry = { generation, page };
    this.#sharedReads.set(key, entry);
    const forget = () => {
      if (this.#sharedReads.get(key) === entry) this.#sharedReads.delete(key);
    };
    page.then(forget, forget);
    return page.then((rows) => rows.slice());
  }

  /** The position of the last readable event of the log, or `undefined` when it is empty. */
  async #logHead(): Promise<string | undefined> {
    const rows = await this.#run(sql<{ position: string }>`
      SELECT position FROM ${this.#t('events')}
       WHERE partition = ${this.#options.partition} AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY transaction_id DESC, position DESC LIMIT 1`);
    return rows.length === 0 ? undefined : String(rows[0]!.position);
  }

  async saveSnapshot(streamId: string, version: number, state: JsonValue, options: SignalOptions = {}): Promise<void> {
    this.#assertOpen();
    const json = prepareSnapshot(streamId, version, state, this.#options.maxEventBytes);
    throwIfAborted(options.signal);
    await this.#run(sql`
      INSERT INTO ${this.#t('snapshots')} (partition, stream_id, version, state, saved_at)
      VALUES (${this.#options.partition}, ${streamId}, ${version}, ${json}::jsonb, ${new Date(this.#options.now()).toISOString()}::timestamptz)
      ON CONFLICT (partition, stream_id, version) DO UPDATE SET state = EXCLUDED.state, saved_at = EXCLUDED.saved_at`);
  }

  async loadSnapshot(streamId: string, options: SignalOptions = {}): Promise<Snapshot | undefined> {
    this.#assertOpen();
    assertStreamId(streamId);
    throwIfAborted(options.signal);
    const rows = await this.#run(sql<{ version: string; state: JsonValue; saved_at: Date | string }>`
      SELECT version, state, ${isoText('saved_at')} AS saved_at FROM ${this.#t('snapshots')}
       WHERE partition = ${this.#options.partition} AND stream_id = ${streamId}
       ORDER BY version DESC LIMIT 1`);
    const row = rows[0];
    if (!row) return undefined;
    return { streamId, version: Number(row.version), state: row.state, savedAt: iso(row.saved_at) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.unsubscribe()));
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    const stop = await this.#stopListening?.catch(() => undefined);
    await stop?.().catch(() => undefined);
    await this.#notifying?.catch(() => undefined);
    await this.#backend.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('event store');
  }

  /** Runs a read (or an idempotent upsert); one retry when the connection was lost. */
  async #run<R>(query: RawBuilder<R>): Promise<R[]> {
    try {
      return (await query.execute(this.#db)).rows;
    } catch (error) {
      if (this.#closed || !isConnectionError(error)) throw this.#mapError(error);
      try {
        return (await query.execute(this.#db)).rows;
      } catch (again) {
        throw this.#mapError(again);
      }
    }
  }

  #ensureListening(): Promise<unknown> {
    this.#stopListening ??= this.#backend.listen(
      this.#channel,
      () => this.#notifier.notify(),
      () => this.#notifier.notify(),
    );
    return this.#stopListening.catch((error: unknown) => {
      this.#stopListening = undefined;
      throw this.#mapError(error);
    });
  }

  /**
   * Wakes subscribers after a commit: in this process at once, in others through NOTIFY. The
   * NOTIFY is sent after the append's own commit, never inside it, because Postgres serialises
   * the commits of notifying transactions on one lock, which would defeat group commit. Bursts
   * coalesce: the first append of a quiet period notifies at once, later ones at most once per
   * {@link NOTIFY_INTERVAL_MS}, so a busy writer spends little on wake-ups.
   */
  #wake(): void {
    this.#notifier.notify();
    if (this.#backend.notifyInTransaction) return;
    if (this.#notifying) {
      this.#notifyAgain = true;
      return;
    }
    const send = async (): Promise<void> => {
      for (;;) {
        this.#notifyAgain = false;
        if (this.#closed) return;
        if (this.#db.isTransaction) {
          // In the caller's transaction: the notification goes out when it commits, and the
          // commit keeps the caller's synchronous_commit (a local set_config would change it).
          await sql`SELECT pg_notify(${this.#channel}, ${this.#options.partition})`.execute(this.#db);
        } else {
          // The wake-up needs no durability: commit it without waiting for a WAL flush.
          await sql`SELECT set_config('synchronous_commit', 'off', true), pg_notify(${this.#channel}, ${this.#options.partition})`.execute(this.#db);
        }
        await new Promise((resolve) => setTimeout(resolve, NOTIFY_INTERVAL_MS));
        if (!this.#notifyAgain) return;
      }
    };
    // A lost NOTIFY only delays remote subscribers until their next poll; rows are the truth.
    this.#notifying = send()
      .catch(() => undefined)
      .finally(() => {
        this.#notifying = undefined;
      });
  }

  #toEvent(row: EventRow): StoredEvent {
    return {
      id: row.event_id,
      partition: this.#options.partition,
      streamId: row.stream_id,
      version: Number(row.version),
      position: String(row.position),
      type: row.type,
      data: row.data as StoredEvent['data'],
      metadata: (row.metadata ?? {}) as StoredEvent['metadata'],
      occurredAt: iso(row.occurred_at),
      recordedAt: iso(row.recorded_at),
    };
  }

  /**
   * The errors `append_events` raises on purpose become the store's typed errors. Their `detail`
   * carries the stream ids as JSON, so the server's error is not kept as `cause` (its inspect
   * output would show them); it says nothing the typed error does not.
   */
  #mapAppendError(error: unknown, prepared: readonly PreparedAppend[]): unknown {
    const detail = (): Record<string, unknown> => JSON.parse(String((error as { detail?: string }).detail ?? '{}')) as Record<string, unknown>;
    if (sqlState(error) === WRONG_EXPECTED_VERSION_SQLSTATE) {
      const { streamId, actual } = detail() as { streamId: string; actual: number };
      const expected = prepared.find((p) => p.streamId === streamId)?.expectedVersion ?? 'any';
      return new WrongExpectedVersionError(streamId, expected, Number(actual));
    }
    if (sqlState(error) === EVENT_ID_CONFLICT_SQLSTATE) {
      const { eventId, streamId, storedStreamId } = detail() as { eventId: string; streamId: string; storedStreamId: string };
      return new EventIdConflictError(eventId, streamId, storedStreamId);
    }
    if (sqlState(error) === APPEND_AFTER_WRITE_SQLSTATE) {
      return new InvalidEventStoreOptionError(
        'db',
        undefined,
        'a transaction that appends before its other writes (the stream lock must come before the transaction id, which orders the global log); the transaction is aborted',
        { shown: 'a transaction that wrote before this append' },
      );
    }
    return this.#mapError(error);
  }

  /**
   * A driver error as the store's error. The message names the failure by its SQLSTATE or system
   * error code only: the server's text can quote the input it refused. The driver's error stays
   * as `cause` for diagnosis; the store's validation refuses, before any query, every caller
   * value Postgres would refuse, so a caller's value does not reach it.
   */
  #mapError(error: unknown): unknown {
    if (isEventStoreError(error) || isBuckleyError(error)) return error;
    if (this.#closed) return new ClosedError('event store', { cause: error });
    if (isConnectionError(error)) return new EventStoreUnavailableError(`event store backend unavailable (${failureCode(error)})`, { cause: error });
    return new EventStoreError(EventStoreErrorCode.Backend, `event store query failed (${failureCode(error)})`, { cause: error });
  }
}

/** `SQLSTATE 40001`, `ECONNRESET` or the error's class name: what a message may say of a driver error. */
function failureCode(error: unknown): string {
  const state = sqlState(error);
  if (state !== undefined) return `SQLSTATE ${state}`;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,31}$/.test(code)) return code;
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'unknown error';
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Errors after which the same call may succeed on another connection: the server closed or
 * lost the connection (class 08, admin shutdown / crash 57P01-57P03, 53300 too many
 * connections), or the socket failed below the protocol.
 */
function isConnectionError(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) return state.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '40001', '40P01'].includes(state);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN'].includes(code)) return true;
  const message = (error as Error | null)?.message ?? '';
  return /connection terminated|terminating connection|client has encountered a connection error|not queryable|connection ended|Connection terminated/i.test(
    message,
  );
}

/** pg's error for a query on a client already known to be broken: nothing reached the server. */
function neverSent(error: unknown): boolean {
  return /not queryable|Client was closed and is not queryable/i.test((error as Error | null)?.message ?? '');
}

const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function iso(value: Date | string): string {
  if (typeof value === 'string' && ISO_MILLIS.test(value)) return value;
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/**
 * A timestamptz column as ISO-8601 UTC text with milliseconds, formatted by the server: much
 * cheaper than the driver parsing each value into a Date and formatting it again.
 */
function isoText(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

function escapeLike(prefix: string): string {
  return prefix.replaceAll(/[\\%_]/g, (c) => `\\${c}`);
}
