import type { EventStore } from '@buckley/events';
import { type PostgresEventStoreOptions, createPostgresEventStore } from '@buckley/postgres';
import { type TestPostgres, createTestPostgres } from './postgres.js';

/** An event store of `@buckley/postgres` on a schema of its own; closing it drops the schema. */
export interface TestPostgresEventStore extends AsyncDisposable {
  readonly store: EventStore;
  readonly pg: TestPostgres;
  close(): Promise<void>;
}

/**
 * The Postgres event store for tests of packages that may not depend on `@buckley/postgres`
 * themselves (ARCHITECTURE §2): a fresh schema (see `createTestPostgres`), migrated, with the
 * store over its pool. An unreachable server rejects: the test fails, it never skips.
 *
 * @example
 * ```ts
 * await using pgStore = await createTestPostgresEventStore('recorder');
 * await pgStore.store.append('s', [{ type: 'x.y', data: {} }]);
 * ```
 */
export async function createTestPostgresEventStore(
  prefix = 'store',
  options: Omit<PostgresEventStoreOptions, 'pool' | 'db' | 'schema'> = {},
): Promise<TestPostgresEventStore> {
  const pg = await createTestPostgres(prefix);
  try {
    const store = await createPostgresEventStore({ pollMs: 100, ...options, pool: pg.pool, schema: pg.schema });
    const close = async () => {
      await store.close().catch(() => undefined);
      await pg.close();
    };
    return { store, pg, close, [Symbol.asyncDispose]: close };
  } catch (error) {
    await pg.close();
    throw error;
  }
}
