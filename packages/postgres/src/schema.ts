import { InvalidEventStoreOptionError } from '@buckley/coordination';
import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, type MigrationResultSet, Migrator } from 'kysely/migration';

/** Default Postgres schema of the event store's tables. */
export const DEFAULT_SCHEMA = 'buckley';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

/** Throws unless `schema` is a plain lower-case identifier (it is spliced into DDL and channel names). */
export function assertSchemaName(schema: unknown): asserts schema is string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new InvalidEventStoreOptionError('schema', schema, 'a lower-case identifier of at most 40 characters ([a-z_][a-z0-9_]*)');
  }
}

/** The LISTEN/NOTIFY channel that wakes subscribers of the store in `schema`. */
export function notifyChannel(schema: string): string {
  return `${schema}_events`;
}

/** The SQLSTATE `append_events` raises when an expected version does not hold. */
export const WRONG_EXPECTED_VERSION_SQLSTATE = 'BK001';

/**
 * The event store's migrations, oldest first. Each only adds; names sort in order. The DDL is
 * plain Postgres (15+, also PGlite), so the server and the embedded store share it.
 */
function migrations(schema: string): Record<string, Migration> {
  const s = (name: string) => sql.id(schema, name);
  return {
    '2026-11-24-001-event-store': {
      async up(db) {
        await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
        // Positions come from this sequence at insert time; transaction_id orders readers so a
        // late-committing transaction is never skipped (see README, "Gap safety").
        await sql`
          CREATE TABLE ${s('events')} (
            partition      text        NOT NULL,
            position       bigint      GENERATED ALWAYS AS IDENTITY,
            transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
            stream_id      text        NOT NULL,
            version        bigint      NOT NULL CHECK (version > 0),
            event_id       uuid        NOT NULL,
            type           text        COLLATE "C" NOT NULL,
            data           jsonb       NOT NULL,
            metadata       jsonb       NOT NULL DEFAULT '{}',
            occurred_at    timestamptz NOT NULL,
            recorded_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (partition, position),
            UNIQUE (partition, stream_id, version),
            UNIQUE (partition, event_id)
          )`.execute(db);
        await sql`CREATE INDEX ${sql.id('events_log_order')} ON ${s('events')} (partition, transaction_id, position)`.execute(db);
        await sql`CREATE INDEX ${sql.id('events_type')} ON ${s('events')} (partition, type, transaction_id, position)`.execute(db);
        await sql`CREATE INDEX ${sql.id('events_occurred_at')} ON ${s('events')} (partition, occurred_at)`.execute(db);
        // Partial indexes: events without the field cost nothing to index, and `x = $1` implies
        // `x IS NOT NULL`, so the planner uses them for equality filters.
        for (const [key, name] of [
          ['sessionId', 'session'],
          ['planId', 'plan'],
          ['taskId', 'task'],
          ['experimentId', 'experiment'],
          ['modelId', 'model'],
          ['toolName', 'tool'],
          ['agentId', 'agent'],
          ['outcome', 'outcome'],
        ] as const) {
          await sql`
            CREATE INDEX ${sql.id(`events_${name}`)} ON ${s('events')}
              (partition, (metadata->>${sql.lit(key)}), transaction_id, position)
              WHERE (metadata->>${sql.lit(key)}) IS NOT NULL`.execute(db);
        }
        await sql`
          CREATE TABLE ${s('streams')} (
            partition  text        NOT NULL,
            stream_id  text        NOT NULL,
            version    bigint      NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (partition, stream_id)
          )`.execute(db);
        await sql`
          CREATE TABLE ${s('snapshots')} (
            partition text        NOT NULL,
            stream_id text        NOT NULL,
            version   bigint      NOT NULL CHECK (version > 0),
            state     jsonb       NOT NULL,
            saved_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (partition, stream_id, version)
          )`.execute(db);
        // One round trip per append: lock the streams (advisory locks, taken in sorted order so
        // two multi-stream appends cannot deadlock, and before any write so the transaction id
        // is assigned only once every stream is held), skip ids already stored, check expected
        // versions, insert. Expected versions: -1 any, -2 no_stream, -3 exists, n >= 0 exact.
        await sql`
          CREATE FUNCTION ${s('append_events')}(
            p_partition text, p_streams text[], p_expected bigint[], p_counts int[],
            p_ids uuid[], p_types text[], p_data text[], p_metadata text[], p_occurred timestamptz[]
          ) RETURNS TABLE (
            ord int, "position" bigint, stream_id text, version bigint, event_id uuid, type text,
            data jsonb, metadata jsonb, occurred_at timestamptz, recorded_at timestamptz
          ) LANGUAGE plpgsql AS $fn$
          #variable_conflict use_column
          DECLARE
            v_stream text;
            v_i int;
            v_j int;
            v_offset int := 0;
            v_current bigint;
            v_expected bigint;
            v_existing uuid[];
            v_stream_of text[] := array_fill(NULL::text, ARRAY[cardinality(p_ids)]);
            v_version bigint[] := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);
            v_new boolean;
          BEGIN
            FOR v_stream IN SELECT u.s FROM unnest(p_streams) AS u(s) ORDER BY u.s COLLATE "C" LOOP
              PERFORM pg_advisory_xact_lock(hashtextextended(p_partition || '/' || v_stream, 0));
            END LOOP;
            SELECT coalesce(array_agg(e.event_id), '{}') INTO v_existing
              FROM ${s('events')} e WHERE e.partition = p_partition AND e.event_id = ANY (p_ids);
            FOR v_i IN 1 .. cardinality(p_streams) LOOP
              v_new := false;
              FOR v_j IN v_offset + 1 .. v_offset + p_counts[v_i] LOOP
                IF NOT (p_ids[v_j] = ANY (v_existing)) THEN v_new := true; END IF;
              END LOOP;
              IF v_new THEN
                SELECT st.version INTO v_current FROM ${s('streams')} st
                  WHERE st.partition = p_partition AND st.stream_id = p_streams[v_i];
                v_current := coalesce(v_current, 0);
                v_expected := p_expected[v_i];
                IF NOT (v_expected = -1 OR (v_expected = -2 AND v_current = 0)
                        OR (v_expected = -3 AND v_current > 0) OR v_expected = v_current) THEN
                  RAISE EXCEPTION 'wrong expected version' USING
                    ERRCODE = ${sql.lit(WRONG_EXPECTED_VERSION_SQLSTATE)},
                    DETAIL = json_build_object('streamId', p_streams[v_i], 'actual', v_current)::text;
                END IF;
                FOR v_j IN v_offset + 1 .. v_offset + p_counts[v_i] LOOP
                  IF NOT (p_ids[v_j] = ANY (v_existing)) THEN
                    v_current := v_current + 1;
                    v_version[v_j] := v_current;
                    v_stream_of[v_j] := p_streams[v_i];
                  END IF;
                END LOOP;
                INSERT INTO ${s('streams')} AS st (partition, stream_id, version)
                  VALUES (p_partition, p_streams[v_i], v_current)
                  ON CONFLICT ON CONSTRAINT streams_pkey DO UPDATE SET version = EXCLUDED.version, updated_at = now();
              END IF;
              v_offset := v_offset + p_counts[v_i];
            END LOOP;
            RETURN QUERY
              WITH inserted AS (
                INSERT INTO ${s('events')} AS e
                  (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
                SELECT p_partition, v_stream_of[g.j], v_version[g.j], p_ids[g.j], p_types[g.j],
                       p_data[g.j]::jsonb, p_metadata[g.j]::jsonb, p_occurred[g.j]
                  FROM generate_series(1, cardinality(p_ids)) AS g(j)
                 WHERE v_version[g.j] IS NOT NULL
                 ORDER BY g.j
                RETURNING e.position, e.stream_id, e.version, e.event_id, e.type, e.occurred_at, e.recorded_at
              )
              SELECT i.j::int, ins.position, ins.stream_id, ins.version, ins.event_id, ins.type,
                     NULL::jsonb, NULL::jsonb, ins.occurred_at, ins.recorded_at
                FROM inserted ins
                JOIN unnest(p_ids) WITH ORDINALITY AS i(id, j) ON i.id = ins.event_id
              UNION ALL
              SELECT i.j::int, e.position, e.stream_id, e.version, e.event_id, e.type,
                     e.data, e.metadata, e.occurred_at, e.recorded_at
                FROM unnest(p_ids) WITH ORDINALITY AS i(id, j)
                JOIN ${s('events')} e ON e.partition = p_partition AND e.event_id = i.id
               WHERE i.id = ANY (v_existing);
          END
          $fn$`.execute(db);
      },
    },
  };
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly all: Record<string, Migration>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.all;
  }
}

/** Options of {@link migrateEventStore}. */
export interface MigrateEventStoreOptions {
  /** Schema of the tables; default `buckley`. */
  readonly schema?: string;
}

/**
 * Creates or updates the event store's tables in `schema` with kysely's `Migrator`. Idempotent,
 * and safe from several processes at once: the migrator holds a Postgres advisory lock while
 * it checks and applies, so the second process waits and then finds nothing to do.
 *
 * @throws the migration's error (with kysely's result set as `cause`) when one failed
 */
export async function migrateEventStore(db: Kysely<any>, options: MigrateEventStoreOptions = {}): Promise<MigrationResultSet> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(migrations(schema)),
    migrationTableSchema: schema,
    migrationTableName: 'migrations',
    migrationLockTableName: 'migrations_lock',
  });
  const result = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    throw new Error(`event store migration in schema ${JSON.stringify(schema)} failed`, { cause: result.error });
  }
  return result;
}
