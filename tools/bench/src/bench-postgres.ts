import { type EventStore } from '@buckley/events';
import { createPostgresEventStore } from '@buckley/postgres';
import { Pool } from 'pg';

const url = process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Runs `fn` with a Postgres event store in a schema of its own (`<prefix>_<pid>`), then closes
 * the store and drops the schema whatever happened.
 */
export async function withPostgresEventStore<T>(prefix: string, fn: (store: EventStore, pool: Pool, schema: string) => Promise<T>): Promise<T> {
  const pool = new Pool({ connectionString: url, max: 4 });
  const schema = `${prefix}_${process.pid}`;
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    const store = await createPostgresEventStore({ pool, schema, partition: 'bench' });
    try {
      return await fn(store, pool, schema);
    } finally {
      await store.close();
    }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
  }
}
