import { InvalidEventStoreOptionError } from '@buckley/events';
import { resolveStoreOptions } from '@buckley/events/adapter';
import { Kysely, type PGlite as KyselyPGlite, PGliteDialect } from 'kysely';
import { resolvePollMs } from './postgres.js';
import { type EventStoreBackend, SqlEventStore, type SqlEventStoreOptions } from './postgres-event-store.js';
import { DEFAULT_SCHEMA, assertSchemaName, migrateEventStore } from './schema.js';

/** The part of a PGlite instance the store uses: what kysely's dialect needs, plus LISTEN. */
export interface PGliteLike extends KyselyPGlite {
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
}

/** Options of {@link createPGliteEventStore}. */
export interface PGliteEventStoreOptions extends SqlEventStoreOptions {
  /** An open PGlite the caller owns (and closes). Without it, the store creates one. */
  readonly pglite?: PGliteLike;
  /**
   * Where the store's own PGlite keeps its files (e.g. `.buckley/data`); in memory when
   * omitted. Ignored when `pglite` is given.
   */
  readonly dataDir?: string;
}

/**
 * Creates the embedded event store: Postgres compiled to WebAssembly (PGlite) in this
 * process, with the same tables, SQL and gap safety as {@link createPostgresEventStore}, and
 * PGlite's own LISTEN/NOTIFY for subscriptions. `@electric-sql/pglite` is loaded only when the
 * store has to create the database itself.
 *
 * @example
 * ```ts
 * await using store = await createPGliteEventStore({ dataDir: '.buckley/data' });
 * ```
 */
export async function createPGliteEventStore(options: PGliteEventStoreOptions = {}): Promise<SqlEventStore> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const resolved = resolveStoreOptions(options);
  const pollMs = resolvePollMs(options.pollMs);
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir.length === 0)) {
    throw new InvalidEventStoreOptionError('dataDir', options.dataDir, 'a non-empty directory path');
  }
  let pglite = options.pglite;
  const owned = pglite === undefined;
  if (pglite === undefined) {
    const { PGlite } = await import('@electric-sql/pglite');
    pglite = (await PGlite.create(options.dataDir === undefined ? {} : { dataDir: options.dataDir })) as unknown as PGliteLike;
  }
  const instance = pglite;
  try {
    // Not destroyed on close: destroying the dialect would close a PGlite the caller owns.
    const db = new Kysely<Record<string, never>>({ dialect: new PGliteDialect({ pglite: instance }) });
    if (options.migrate !== false) await migrateEventStore(db, { schema });
    const backend: EventStoreBackend = {
      db,
      notifyInTransaction: true,
      listen: async (channel, onNotify) => {
        const unlisten = await instance.listen(channel, () => onNotify());
        return async () => {
          if (!instance.closed) await unlisten();
        };
      },
      close: async () => {
        if (owned && !instance.closed) await instance.close();
      },
    };
    return new SqlEventStore(backend, schema, resolved, pollMs);
  } catch (error) {
    if (owned && !instance.closed) await instance.close();
    throw error;
  }
}
