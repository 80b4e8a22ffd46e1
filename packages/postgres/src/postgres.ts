import { InvalidEventStoreOptionError } from '@buckley/events';
import { resolveStoreOptions } from '@buckley/events/adapter';
import { backoffDelay } from '@buckley/utils';
import { Kysely, PostgresDialect, type PostgresPool } from 'kysely';
import { type EventStoreBackend, type PostgresEventStore, SqlEventStore, type SqlEventStoreOptions } from './postgres-event-store.js';
import { type AnyKysely, DEFAULT_SCHEMA, assertSchemaName, migrateEventStore } from './schema.js';

/** A notification as `pg` delivers it. */
export interface PostgresNotification {
  readonly channel: string;
  readonly payload?: string | undefined;
}

/** The part of a `pg` pooled client the store uses for LISTEN. */
export interface PostgresListenClient {
  query(text: string): Promise<unknown>;
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  release(destroy?: boolean | Error): void;
  on(event: 'notification', listener: (message: PostgresNotification) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'notification', listener: (message: PostgresNotification) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * The part of a `pg.Pool` the store uses: kysely runs queries through `connect()`, and one
 * client is held for LISTEN while subscriptions exist. The store never ends the pool.
 */
export interface PostgresEventStorePool {
  connect(): Promise<PostgresListenClient>;
}

/** Options of {@link createPostgresEventStore}. */
export interface PostgresEventStoreOptions extends SqlEventStoreOptions {
  /**
   * The caller's `pg.Pool`. Queries go through it, and it provides the LISTEN connection that
   * wakes subscriptions written by other processes.
   */
  readonly pool?: PostgresEventStorePool;
  /**
   * The caller's Kysely over Postgres, used for queries instead of `pool` (its plugins are
   * bypassed). Without `pool`, subscriptions see other processes' events by polling only.
   */
  readonly db?: AnyKysely;
}

/**
 * Creates the event store on a Postgres server through the caller's `pg.Pool` (or Kysely),
 * running the migrations first unless `migrate: false`. Closing the store releases its LISTEN
 * connection and leaves the pool open.
 *
 * @example
 * ```ts
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await using store = await createPostgresEventStore({ pool });
 * await store.append('session:1', [{ type: 'session.started', data: {} }]);
 * ```
 */
export async function createPostgresEventStore(options: PostgresEventStoreOptions): Promise<PostgresEventStore> {
  const resolved = resolveStoreOptions(options, [...SQL_STORE_KEYS, 'pool', 'db']);
  const { pool } = options;
  assertPoolOrDb(pool, options.db);
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const migrate = resolveMigrate(options.migrate);
  const pollMs = resolvePollMs(options.pollMs);
  // A Kysely we create over the caller's pool is never destroyed: destroying ends the pool.
  const db = options.db
    ? options.db.withoutPlugins()
    : new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: guardedPool(pool!) as unknown as PostgresPool }) });
  if (migrate) await migrateEventStore(db, { schema });
  const backend: EventStoreBackend = {
    db,
    notifyInTransaction: false,
    // With a caller's Kysely every statement goes through it, so appends are not prepared then.
    prepared: pool && !options.db ? preparedWithPool(guardedPool(pool)) : undefined,
    listen: pool ? (channel, onNotify, onError) => listenWithPool(pool, channel, onNotify, onError) : async () => async () => undefined,
    close: async () => undefined,
  };
  return new SqlEventStore(backend, schema, resolved, pollMs);
}

/**
 * The caller's pool, except that every client the store checks out gets an `error` listener:
 * `pg` emits `error` on a checked-out client whose connection dies, and with no listener that
 * would crash the process. The failure still reaches the caller through the query's promise.
 */
const guarded = new WeakSet<object>();
const ignoreError = (): void => undefined;

function guardedPool(pool: PostgresEventStorePool): { connect(): Promise<PostgresListenClient>; end(): Promise<void> } {
  return {
    async connect() {
      const client = await pool.connect();
      if (!guarded.has(client)) {
        guarded.add(client);
        client.on('error', ignoreError);
      }
      return client;
    },
    // Never called: the store does not destroy this Kysely, since that would end the pool.
    end: async () => undefined,
  };
}

/**
 * Named prepared statements on the caller's pool: `pg` parses a name once per connection, so
 * later calls skip the server's parse and plan. A connection that failed is not queryable any
 * more, and the pool discards it on release.
 */
function preparedWithPool(pool: { connect(): Promise<PostgresListenClient> }) {
  return async (name: string, text: string, values: readonly unknown[]): Promise<{ rows: unknown[] }> => {
    const client = await pool.connect();
    try {
      return await client.query({ name, text, values: [...values] });
    } finally {
      client.release();
    }
  };
}

/** The options of {@link SqlEventStoreOptions} beyond `EventStoreOptions`, which both SQL factories accept. */
export const SQL_STORE_KEYS: readonly string[] = ['schema', 'migrate', 'pollMs'];

/** Checks `migrate` (default `true`): a string such as `'false'` must not run the migrations. */
export function resolveMigrate(migrate: unknown): boolean {
  if (migrate === undefined) return true;
  if (typeof migrate === 'boolean') return migrate;
  throw new InvalidEventStoreOptionError('migrate', migrate, 'true or false (whether to run the migrations first)');
}

/** Whether `value` is an object with a function under each of `methods` (the part of a client a store calls). */
export function hasMethods(value: unknown, ...methods: string[]): boolean {
  return typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
}

/** Checks that a store got a `pg.Pool`-like `pool` or a Kysely `db` (both may be given: `db` queries, `pool` listens). */
export function assertPoolOrDb(pool: unknown, db: unknown): void {
  if (db !== undefined && !hasMethods(db, 'executeQuery', 'withoutPlugins')) {
    throw new InvalidEventStoreOptionError('db', db, 'a Kysely over Postgres (or leave it out and give pool)');
  }
  if ((pool !== undefined || db === undefined) && !hasMethods(pool, 'connect')) {
    throw new InvalidEventStoreOptionError('pool', pool, 'a pg.Pool (or a Kysely in db)');
  }
}

/** Checks `pollMs` (default 1000). */
export function resolvePollMs(pollMs: unknown): number {
  if (pollMs === undefined) return 1000;
  if (typeof pollMs === 'number' && Number.isFinite(pollMs) && pollMs >= 1) return pollMs;
  throw new InvalidEventStoreOptionError('pollMs', pollMs, 'a number of milliseconds >= 1');
}

/** Delay before a lost LISTEN connection is opened again: 50 ms after the first failure, doubling to 2 s, with jitter. */
const LISTEN_BACKOFF = { baseDelayMs: 25, maxDelayMs: 2000 } as const;

/**
 * Holds one pooled client in LISTEN. When its connection fails, the client is discarded and a
 * new one is connected with backoff; `onNotify` then fires so subscribers re-read whatever was
 * committed meanwhile.
 */
async function listenWithPool(
  pool: PostgresEventStorePool,
  channel: string,
  onNotify: () => void,
  onError: (error: unknown) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let current: PostgresListenClient | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let releaseCurrent: ((error?: Error | boolean) => void) | undefined;

  const connect = async (): Promise<void> => {
    const client = await pool.connect();
    let dead = false;
    const onNotification = (message: PostgresNotification): void => {
      if (message.channel === channel) onNotify();
    };
    const onClientError = (error: Error): void => {
      if (dead) return;
      dead = true;
      onError(error);
      if (current === client) current = undefined;
      release(client, error);
      schedule();
    };
    // The client goes back to the caller's pool afterwards: leave no listener of ours on it.
    const release = (c: PostgresListenClient, error?: Error | boolean): void => {
      c.removeListener('notification', onNotification);
      c.removeListener('error', onClientError);
      // A dead connection may still emit errors after release; keep it from crashing the process.
      if (error) c.on('error', ignoreError);
      c.release(error);
    };
    client.on('notification', onNotification);
    client.on('error', onClientError);
    try {
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      dead = true;
      release(client, error instanceof Error ? error : true);
      throw error;
    }
    releaseCurrent = (error) => release(client, error);
    current = client;
    failures = 0;
  };

  const schedule = (): void => {
    if (stopped || timer) return;
    failures++;
    timer = setTimeout(
      () => {
        timer = undefined;
        if (stopped) return;
        connect().then(
          () => {
            if (stopped) return stop();
            onNotify();
            return undefined;
          },
          (error: unknown) => {
            onError(error);
            schedule();
          },
        );
      },
      backoffDelay(failures + 1, LISTEN_BACKOFF, Math.random()),
    );
  };

  const stop = async (): Promise<void> => {
    stopped = true;
    if (timer) clearTimeout(timer);
    const client = current;
    current = undefined;
    if (!client) return;
    try {
      await client.query(`UNLISTEN "${channel}"`);
      releaseCurrent?.();
    } catch (error) {
      releaseCurrent?.(error instanceof Error ? error : true);
    }
  };

  await connect();
  return stop;
}
