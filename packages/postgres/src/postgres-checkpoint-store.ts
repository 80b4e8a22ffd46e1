import type { CheckpointStore } from '@buckley/coordination';
import { assertOptionKeys, resolveStoreOptions } from '@buckley/events/adapter';
import { throwIfAborted } from '@buckley/utils';
import { Kysely, PostgresDialect, type PostgresPool, sql } from 'kysely';
import { assertPoolOrDb, resolveMigrate } from './postgres.js';
import { migrateTaskCoordinator } from './postgres-task-coordinator.js';
import { type AnyKysely, DEFAULT_SCHEMA, assertSchemaName } from './schema.js';

/** Options of {@link createPostgresCheckpointStore}. */
export interface PostgresCheckpointStoreOptions {
  /** The caller's `pg.Pool` (never ended here). */
  readonly pool?: PostgresPool;
  /** The caller's Kysely over Postgres or PGlite, instead of `pool`. */
  readonly db?: AnyKysely;
  /** Default `buckley`. */
  readonly schema?: string;
  /** Tenant partition; default `'default'`. */
  readonly partition?: string;
  /** Run the coordinator migrations (which create `relay_checkpoints`) first; default true. */
  readonly migrate?: boolean;
}

/**
 * The outbox relay's {@link CheckpointStore} in Postgres (`<schema>.relay_checkpoints`), next
 * to the log it points into: the checkpoint survives whatever NATS loses, and a restarted relay
 * on any machine resumes from it.
 *
 * @throws {InvalidEventStoreOptionError} for an unknown option key or a bad option, as the event
 * store factories do, before anything touches the database
 */
export async function createPostgresCheckpointStore(options: PostgresCheckpointStoreOptions): Promise<CheckpointStore> {
  assertOptionKeys(options, ['pool', 'db', 'schema', 'partition', 'migrate']);
  const { partition } = resolveStoreOptions({ partition: options.partition });
  assertPoolOrDb(options.pool, options.db);
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const migrate = resolveMigrate(options.migrate);
  const db: AnyKysely = options.db ?? new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: options.pool! }) });
  if (migrate) await migrateTaskCoordinator(db, { schema });
  const table = sql.id(schema, 'relay_checkpoints');
  return {
    async load(name, signal) {
      throwIfAborted(signal);
      const { rows } = await sql<{ position: string }>`SELECT position FROM ${table} WHERE partition = ${partition} AND name = ${name}`.execute(db);
      return rows[0]?.position;
    },
    async save(name, position, signal) {
      throwIfAborted(signal);
      await sql`
        INSERT INTO ${table} (partition, name, position) VALUES (${partition}, ${name}, ${position})
        ON CONFLICT (partition, name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`.execute(db);
    },
  };
}
