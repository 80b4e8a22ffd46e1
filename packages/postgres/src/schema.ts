import { EventStoreError, EventStoreErrorCode, InvalidEventStoreOptionError } from '@buckley/events';
import { type DatabaseIntrospector, type Kysely, type SchemaMetadata, type TableMetadata, sql } from 'kysely';
import { type Migration, type MigrationProvider, type MigrationResultSet, Migrator } from 'kysely/migration';

/**
 * A Kysely over any database shape: the store speaks raw SQL through `sql` templates, so it
 * does not type the caller's tables.
 */
// oxlint-disable-next-line typescript/no-explicit-any
export type AnyKysely = Kysely<any>;

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
 * The SQLSTATE `append_events` raises for an append in a transaction that wrote before it took
 * the stream's lock (the global log could order the stream's versions wrongly).
 */
export const APPEND_AFTER_WRITE_SQLSTATE = 'BK002';

/** The SQLSTATE `append_events` raises for an event id that is stored in another stream. */
export const EVENT_ID_CONFLICT_SQLSTATE = 'BK003';

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
        // versions, insert set-based. Expected versions: -1 any, -2 no_stream, -3 exists, n >= 0
        // exact. p_stream_idx gives each event's 1-based index into p_streams; data and
        // metadata come as one JSON array each, parsed once by the server. p_notify: the channel to
        // NOTIFY inside the transaction, or NULL.
        await sql`
          CREATE FUNCTION ${s('append_events')}(
            p_partition text, p_streams text[], p_expected bigint[], p_counts int[], p_stream_idx int[],
            p_ids uuid[], p_types text[], p_data jsonb, p_metadata jsonb, p_occurred timestamptz[],
            p_notify text
          ) RETURNS TABLE (
            "position" bigint, event_id uuid, stream_id text, version bigint, type text,
            data jsonb, metadata jsonb, occurred_at timestamptz, recorded_at timestamptz
          ) LANGUAGE plpgsql AS $fn$
          #variable_conflict use_column
          DECLARE
            v_stream text;
            v_i int;
            v_current bigint;
            v_expected bigint;
            v_new int;
            v_inserted int;
            v_existing uuid[];
            v_base bigint[] := array_fill(0::bigint, ARRAY[cardinality(p_streams)]);
          BEGIN
            FOR v_stream IN SELECT u.s FROM unnest(p_streams) AS u(s) ORDER BY u.s COLLATE "C" LOOP
              PERFORM pg_advisory_xact_lock(hashtextextended(p_partition || '/' || v_stream, 0));
            END LOOP;
            SELECT coalesce(array_agg(e.event_id), '{}') INTO v_existing
              FROM ${s('events')} e WHERE e.partition = p_partition AND e.event_id = ANY (p_ids);
            FOR v_i IN 1 .. cardinality(p_streams) LOOP
              IF cardinality(v_existing) = 0 THEN
                v_new := p_counts[v_i];
              ELSE
                SELECT count(*) INTO v_new FROM unnest(p_stream_idx, p_ids) AS u(si, id)
                 WHERE u.si = v_i AND NOT (u.id = ANY (v_existing));
              END IF;
              IF v_new > 0 THEN
                -- The stream's lock is held, so its head cannot move until this commits.
                SELECT e.version INTO v_current FROM ${s('events')} e
                  WHERE e.partition = p_partition AND e.stream_id = p_streams[v_i]
                  ORDER BY e.version DESC LIMIT 1;
                v_current := coalesce(v_current, 0);
                v_expected := p_expected[v_i];
                IF NOT (v_expected = -1 OR (v_expected = -2 AND v_current = 0)
                        OR (v_expected = -3 AND v_current > 0) OR v_expected = v_current) THEN
                  RAISE EXCEPTION 'wrong expected version' USING
                    ERRCODE = ${sql.lit(WRONG_EXPECTED_VERSION_SQLSTATE)},
                    DETAIL = json_build_object('streamId', p_streams[v_i], 'actual', v_current)::text;
                END IF;
                v_base[v_i] := v_current;
              END IF;
            END LOOP;
            RETURN QUERY
              WITH inserted AS (
                INSERT INTO ${s('events')} AS e
                  (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
                SELECT p_partition, p_streams[u.si],
                       v_base[u.si] + row_number() OVER (PARTITION BY u.si ORDER BY u.j),
                       u.id, u.t, p_data -> (u.j::int - 1), p_metadata -> (u.j::int - 1), u.o
                  FROM unnest(p_stream_idx, p_ids, p_types, p_occurred) WITH ORDINALITY AS u(si, id, t, o, j)
                 WHERE cardinality(v_existing) = 0 OR NOT (u.id = ANY (v_existing))
                 ORDER BY u.j
                RETURNING e.position, e.event_id, e.stream_id, e.version, e.type, e.occurred_at, e.recorded_at
              )
              SELECT i.position, i.event_id, i.stream_id, i.version, i.type, NULL::jsonb, NULL::jsonb,
                     i.occurred_at, i.recorded_at
                FROM inserted i;
            GET DIAGNOSTICS v_inserted = ROW_COUNT;
            -- Embedded (single-connection) stores notify here; server stores notify after
            -- commit instead, since notifying transactions serialise their commits.
            IF p_notify IS NOT NULL AND v_inserted > 0 THEN
              PERFORM pg_notify(p_notify, p_partition);
            END IF;
            IF cardinality(v_existing) > 0 THEN
              RETURN QUERY
                SELECT e.position, e.event_id, e.stream_id, e.version, e.type, e.data, e.metadata,
                       e.occurred_at, e.recorded_at
                  FROM ${s('events')} e
                 WHERE e.partition = p_partition AND e.event_id = ANY (v_existing);
            END IF;
          END
          $fn$`.execute(db);
      },
    },
    // Cheaper appends (see README, "Performance"): fewer index entries per event and less work
    // in the append function on the path every append takes.
    '2026-11-24-002-lean-append': {
      async up(db) {
        // Types are few and each is common, so a type filter finds its page quickly in log
        // order; a whole index entry per event for it cost more than it saved.
        await sql`DROP INDEX IF EXISTS ${s('events_type')}`.execute(db);
        // Most outcomes are successes; the outcomes worth finding are the others. `outcome =
        // 'failure'` implies `outcome <> 'success'`, so the planner still uses this index for them,
        // while a success filter reads the log in order (most events match it).
        await sql`DROP INDEX IF EXISTS ${s('events_outcome')}`.execute(db);
        await sql`
          CREATE INDEX ${sql.id('events_outcome')} ON ${s('events')}
            (partition, (metadata->>'outcome'), transaction_id, position)
            WHERE (metadata->>'outcome') <> 'success'`.execute(db);
        await sql`DROP FUNCTION ${s('append_events')}(text, text[], bigint[], int[], int[], uuid[], text[], jsonb, jsonb, timestamptz[], text)`.execute(db);
        // As in 001, except: one stream (the usual call) locks without a loop; stored ids are
        // looked up only when the caller asks (p_probe, its retry after a unique violation on
        // event_id) or when an expected version fails (the call may be a retry of one that
        // succeeded); and with no stored ids, versions are computed from each stream's offset in
        // the batch, without a window function. Events of one stream are contiguous in the batch.
        await sql`
          CREATE FUNCTION ${s('append_events')}(
            p_partition text, p_streams text[], p_expected bigint[], p_counts int[], p_stream_idx int[],
            p_ids uuid[], p_types text[], p_data jsonb, p_metadata jsonb, p_occurred timestamptz[],
            p_notify text, p_probe boolean DEFAULT false
          ) RETURNS TABLE (
            "position" bigint, event_id uuid, stream_id text, version bigint, type text,
            data jsonb, metadata jsonb, occurred_at timestamptz, recorded_at timestamptz
          ) LANGUAGE plpgsql AS $fn$
          #variable_conflict use_column
          DECLARE
            v_n int := cardinality(p_streams);
            v_stream text;
            v_i int;
            v_offset int;
            v_current bigint;
            v_expected bigint;
            v_new int;
            v_inserted int;
            v_probed boolean := p_probe;
            v_existing uuid[] := '{}';
            v_base bigint[] := array_fill(0::bigint, ARRAY[cardinality(p_streams)]);
          BEGIN
            IF v_n = 1 THEN
              PERFORM pg_advisory_xact_lock(hashtextextended(p_partition || '/' || p_streams[1], 0));
            ELSE
              FOR v_stream IN SELECT u.s FROM unnest(p_streams) AS u(s) ORDER BY u.s COLLATE "C" LOOP
                PERFORM pg_advisory_xact_lock(hashtextextended(p_partition || '/' || v_stream, 0));
              END LOOP;
            END IF;
            IF p_probe THEN
              SELECT coalesce(array_agg(e.event_id), '{}') INTO v_existing
                FROM ${s('events')} e WHERE e.partition = p_partition AND e.event_id = ANY (p_ids);
            END IF;
            <<checks>>
            LOOP
              v_offset := 0;
              FOR v_i IN 1 .. v_n LOOP
                IF cardinality(v_existing) = 0 THEN
                  v_new := p_counts[v_i];
                ELSE
                  SELECT count(*) INTO v_new FROM unnest(p_stream_idx, p_ids) AS u(si, id)
                   WHERE u.si = v_i AND NOT (u.id = ANY (v_existing));
                END IF;
                IF v_new > 0 THEN
                  -- The stream's lock is held, so its head cannot move until this commits.
                  SELECT e.version INTO v_current FROM ${s('events')} e
                    WHERE e.partition = p_partition AND e.stream_id = p_streams[v_i]
                    ORDER BY e.version DESC LIMIT 1;
                  v_current := coalesce(v_current, 0);
                  v_expected := p_expected[v_i];
                  IF NOT (v_expected = -1 OR (v_expected = -2 AND v_current = 0)
                          OR (v_expected = -3 AND v_current > 0) OR v_expected = v_current) THEN
                    IF NOT v_probed THEN
                      -- Perhaps a retry of an append that was stored: check again without its events.
                      v_probed := true;
                      SELECT coalesce(array_agg(e.event_id), '{}') INTO v_existing
                        FROM ${s('events')} e WHERE e.partition = p_partition AND e.event_id = ANY (p_ids);
                      CONTINUE checks;
                    END IF;
                    RAISE EXCEPTION 'wrong expected version' USING
                      ERRCODE = ${sql.lit(WRONG_EXPECTED_VERSION_SQLSTATE)},
                      DETAIL = json_build_object('streamId', p_streams[v_i], 'actual', v_current)::text;
                  END IF;
                  -- With no stored ids, event j of stream i gets version head + (j - offset).
                  v_base[v_i] := v_current - v_offset;
                END IF;
                v_offset := v_offset + p_counts[v_i];
              END LOOP;
              EXIT checks;
            END LOOP;
            IF cardinality(v_existing) = 0 THEN
              RETURN QUERY
                WITH inserted AS (
                  INSERT INTO ${s('events')} AS e
                    (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
                  SELECT p_partition, p_streams[u.si], v_base[u.si] + u.j,
                         u.id, u.t, p_data -> (u.j::int - 1), p_metadata -> (u.j::int - 1), u.o
                    FROM unnest(p_stream_idx, p_ids, p_types, p_occurred) WITH ORDINALITY AS u(si, id, t, o, j)
                   ORDER BY u.j
                  RETURNING e.position, e.event_id, e.stream_id, e.version, e.type, e.occurred_at, e.recorded_at
                )
                SELECT i.position, i.event_id, i.stream_id, i.version, i.type, NULL::jsonb, NULL::jsonb,
                       i.occurred_at, i.recorded_at
                  FROM inserted i;
            ELSE
              -- v_base holds each stream's head here (its offset is not used).
              FOR v_i IN 1 .. v_n LOOP
                v_base[v_i] := v_base[v_i] + (SELECT coalesce(sum(c), 0) FROM unnest(p_counts[1:v_i - 1]) AS c);
              END LOOP;
              RETURN QUERY
                WITH inserted AS (
                  INSERT INTO ${s('events')} AS e
                    (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
                  SELECT p_partition, p_streams[u.si],
                         v_base[u.si] + row_number() OVER (PARTITION BY u.si ORDER BY u.j),
                         u.id, u.t, p_data -> (u.j::int - 1), p_metadata -> (u.j::int - 1), u.o
                    FROM unnest(p_stream_idx, p_ids, p_types, p_occurred) WITH ORDINALITY AS u(si, id, t, o, j)
                   WHERE NOT (u.id = ANY (v_existing))
                   ORDER BY u.j
                  RETURNING e.position, e.event_id, e.stream_id, e.version, e.type, e.occurred_at, e.recorded_at
                )
                SELECT i.position, i.event_id, i.stream_id, i.version, i.type, NULL::jsonb, NULL::jsonb,
                       i.occurred_at, i.recorded_at
                  FROM inserted i;
            END IF;
            GET DIAGNOSTICS v_inserted = ROW_COUNT;
            IF p_notify IS NOT NULL AND v_inserted > 0 THEN
              PERFORM pg_notify(p_notify, p_partition);
            END IF;
            IF cardinality(v_existing) > 0 THEN
              RETURN QUERY
                SELECT e.position, e.event_id, e.stream_id, e.version, e.type, e.data, e.metadata,
                       e.occurred_at, e.recorded_at
                  FROM ${s('events')} e
                 WHERE e.partition = p_partition AND e.event_id = ANY (v_existing);
            END IF;
          END
          $fn$`.execute(db);
      },
    },
    // Appends in a caller's transaction (createPostgresEventStore({ db: trx })) that wrote
    // before appending are refused (see README, "Appends inside your transaction"), and so is
    // an event id that is stored in another stream.
    '2026-12-02-003-append-after-write': {
      async up(db) {
        await sql`
          CREATE OR REPLACE FUNCTION ${s('append_events')}(
            p_partition text, p_streams text[], p_expected bigint[], p_counts int[], p_stream_idx int[],
            p_ids uuid[], p_types text[], p_data jsonb, p_metadata jsonb, p_occurred timestamptz[],
            p_notify text, p_probe boolean DEFAULT false
          ) RETURNS TABLE (
            "position" bigint, event_id uuid, stream_id text, version bigint, type text,
            data jsonb, metadata jsonb, occurred_at timestamptz, recorded_at timestamptz
          ) LANGUAGE plpgsql AS $fn$
          #variable_conflict use_column
          DECLARE
            v_n int := cardinality(p_streams);
            v_stream text;
            v_i int;
            v_offset int;
            v_current bigint;
            v_expected bigint;
            v_new int;
            v_inserted int;
            v_probed boolean := p_probe;
            v_existing uuid[] := '{}';
            v_base bigint[] := array_fill(0::bigint, ARRAY[cardinality(p_streams)]);
            v_key bigint;
            v_conflict text;
          BEGIN
            -- Inside a caller's transaction that has written already, the transaction id (which
            -- orders the global log) was assigned before the stream locks below: another
            -- client's later version of the stream could commit first and sort after this one.
            -- Allowed only for streams this transaction locked before its first write.
            IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
              FOR v_stream IN SELECT u.s FROM unnest(p_streams) AS u(s) LOOP
                v_key := hashtextextended(p_partition || '/' || v_stream, 0);
                IF NOT EXISTS (
                  SELECT 1 FROM pg_locks l
                   WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted AND l.objsubid = 1
                     AND l.classid = ((v_key >> 32) & 4294967295)::oid AND l.objid = (v_key & 4294967295)::oid) THEN
                  RAISE EXCEPTION 'append after a write in the same transaction' USING
                    ERRCODE = ${sql.lit(APPEND_AFTER_WRITE_SQLSTATE)},
                    DETAIL = json_build_object('streamId', v_stream)::text;
                END IF;
              END LOOP;
            END IF;
            IF v_n = 1 THEN
              PERFORM pg_advisory_xact_lock(hashtextextended(p_partition || '/' || p_streams[1], 0));
            ELSE
              FOR v_stream IN SELECT u.s FROM unnest(p_streams) AS u(s) ORDER BY u.s COLLATE "C" LOOP
                PERFORM pg_advisory_xact_lock(hashtextextended(p_partition || '/' || v_stream, 0));
              END LOOP;
            END IF;
            IF p_probe THEN
              SELECT coalesce(array_agg(e.event_id), '{}') INTO v_existing
                FROM ${s('events')} e WHERE e.partition = p_partition AND e.event_id = ANY (p_ids);
            END IF;
            <<checks>>
            LOOP
              v_offset := 0;
              FOR v_i IN 1 .. v_n LOOP
                IF cardinality(v_existing) = 0 THEN
                  v_new := p_counts[v_i];
                ELSE
                  SELECT count(*) INTO v_new FROM unnest(p_stream_idx, p_ids) AS u(si, id)
                   WHERE u.si = v_i AND NOT (u.id = ANY (v_existing));
                END IF;
                IF v_new > 0 THEN
                  -- The stream's lock is held, so its head cannot move until this commits.
                  SELECT e.version INTO v_current FROM ${s('events')} e
                    WHERE e.partition = p_partition AND e.stream_id = p_streams[v_i]
                    ORDER BY e.version DESC LIMIT 1;
                  v_current := coalesce(v_current, 0);
                  v_expected := p_expected[v_i];
                  IF NOT (v_expected = -1 OR (v_expected = -2 AND v_current = 0)
                          OR (v_expected = -3 AND v_current > 0) OR v_expected = v_current) THEN
                    IF NOT v_probed THEN
                      -- Perhaps a retry of an append that was stored: check again without its events.
                      v_probed := true;
                      SELECT coalesce(array_agg(e.event_id), '{}') INTO v_existing
                        FROM ${s('events')} e WHERE e.partition = p_partition AND e.event_id = ANY (p_ids);
                      CONTINUE checks;
                    END IF;
                    RAISE EXCEPTION 'wrong expected version' USING
                      ERRCODE = ${sql.lit(WRONG_EXPECTED_VERSION_SQLSTATE)},
                      DETAIL = json_build_object('streamId', p_streams[v_i], 'actual', v_current)::text;
                  END IF;
                  -- With no stored ids, event j of stream i gets version head + (j - offset).
                  v_base[v_i] := v_current - v_offset;
                END IF;
                v_offset := v_offset + p_counts[v_i];
              END LOOP;
              EXIT checks;
            END LOOP;
            IF cardinality(v_existing) = 0 THEN
              RETURN QUERY
                WITH inserted AS (
                  INSERT INTO ${s('events')} AS e
                    (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
                  SELECT p_partition, p_streams[u.si], v_base[u.si] + u.j,
                         u.id, u.t, p_data -> (u.j::int - 1), p_metadata -> (u.j::int - 1), u.o
                    FROM unnest(p_stream_idx, p_ids, p_types, p_occurred) WITH ORDINALITY AS u(si, id, t, o, j)
                   ORDER BY u.j
                  RETURNING e.position, e.event_id, e.stream_id, e.version, e.type, e.occurred_at, e.recorded_at
                )
                SELECT i.position, i.event_id, i.stream_id, i.version, i.type, NULL::jsonb, NULL::jsonb,
                       i.occurred_at, i.recorded_at
                  FROM inserted i;
            ELSE
              -- A stored id must be stored in the stream this call appends it to: ids are
              -- unique in the log, so one in another stream is not a retry of this call.
              SELECT json_build_object('eventId', u.id, 'streamId', p_streams[u.si], 'storedStreamId', e.stream_id)::text
                INTO v_conflict
                FROM unnest(p_stream_idx, p_ids) AS u(si, id)
                JOIN ${s('events')} e ON e.partition = p_partition AND e.event_id = u.id
               WHERE e.stream_id <> p_streams[u.si]
               LIMIT 1;
              IF v_conflict IS NOT NULL THEN
                RAISE EXCEPTION 'event id stored in another stream' USING
                  ERRCODE = ${sql.lit(EVENT_ID_CONFLICT_SQLSTATE)}, DETAIL = v_conflict;
              END IF;
              -- v_base holds each stream's head here (its offset is not used).
              FOR v_i IN 1 .. v_n LOOP
                v_base[v_i] := v_base[v_i] + (SELECT coalesce(sum(c), 0) FROM unnest(p_counts[1:v_i - 1]) AS c);
              END LOOP;
              RETURN QUERY
                WITH inserted AS (
                  INSERT INTO ${s('events')} AS e
                    (partition, stream_id, version, event_id, type, data, metadata, occurred_at)
                  SELECT p_partition, p_streams[u.si],
                         v_base[u.si] + row_number() OVER (PARTITION BY u.si ORDER BY u.j),
                         u.id, u.t, p_data -> (u.j::int - 1), p_metadata -> (u.j::int - 1), u.o
                    FROM unnest(p_stream_idx, p_ids, p_types, p_occurred) WITH ORDINALITY AS u(si, id, t, o, j)
                   WHERE NOT (u.id = ANY (v_existing))
                   ORDER BY u.j
                  RETURNING e.position, e.event_id, e.stream_id, e.version, e.type, e.occurred_at, e.recorded_at
                )
                SELECT i.position, i.event_id, i.stream_id, i.version, i.type, NULL::jsonb, NULL::jsonb,
                       i.occurred_at, i.recorded_at
                  FROM inserted i;
            END IF;
            GET DIAGNOSTICS v_inserted = ROW_COUNT;
            IF p_notify IS NOT NULL AND v_inserted > 0 THEN
              PERFORM pg_notify(p_notify, p_partition);
            END IF;
            IF cardinality(v_existing) > 0 THEN
              RETURN QUERY
                SELECT e.position, e.event_id, e.stream_id, e.version, e.type, e.data, e.metadata,
                       e.occurred_at, e.recorded_at
                  FROM ${s('events')} e
                 WHERE e.partition = p_partition AND e.event_id = ANY (v_existing);
            END IF;
          END
          $fn$`.execute(db);
      },
    },
    // Outcome queries read a narrow, typed copy of the events that carry an outcome, written by
    // a statement-level trigger in the append's own transaction (so it commits or rolls back
    // with the events): aggregating a million of these rows reads a fraction of what scanning
    // the events' JSON would.
    '2026-12-02-004-outcomes': {
      async up(db) {
        const num = (expression: string) => `CASE WHEN jsonb_typeof(${expression}) = 'number' THEN (${expression})::text::numeric END`;
        await sql`
          CREATE TABLE ${s('outcomes')} (
            partition           text             NOT NULL,
            position            bigint           NOT NULL,
            type                text             COLLATE "C" NOT NULL,
            outcome             text             NOT NULL,
            duration_ms         double precision,
            session_id          text             COLLATE "C",
            plan_id             text             COLLATE "C",
            task_id             text             COLLATE "C",
            experiment_id       text             COLLATE "C",
            model_id            text             COLLATE "C",
            tool_name           text             COLLATE "C",
            agent_id            text             COLLATE "C",
            input_tokens        numeric,
            cached_input_tokens numeric,
            output_tokens       numeric,
            cost_usd            numeric,
            occurred_at         timestamptz      NOT NULL,
            PRIMARY KEY (partition, position)
          )`.execute(db);
        const columns = sql.raw(`partition, position, type, outcome, duration_ms, session_id, plan_id, task_id, experiment_id,
          model_id, tool_name, agent_id, input_tokens, cached_input_tokens, output_tokens, cost_usd, occurred_at`);
        const values = (from: string) =>
          sql.raw(`${from}.partition, ${from}.position, ${from}.type, ${from}.metadata->>'outcome',
            ${num(`${from}.metadata->'durationMs'`)}::double precision,
            ${from}.metadata->>'sessionId', ${from}.metadata->>'planId', ${from}.metadata->>'taskId',
            ${from}.metadata->>'experimentId', ${from}.metadata->>'modelId', ${from}.metadata->>'toolName',
            ${from}.metadata->>'agentId', ${num(`${from}.data->'inputTokens'`)}, ${num(`${from}.data->'cachedInputTokens'`)},
            ${num(`${from}.data->'outputTokens'`)}, ${num(`${from}.data->'costUsd'`)}, ${from}.occurred_at`);
        await sql`
          CREATE FUNCTION ${s('record_outcomes')}() RETURNS trigger LANGUAGE plpgsql AS $fn$
          BEGIN
            INSERT INTO ${s('outcomes')} (${columns})
              SELECT ${values('n')} FROM new_events n WHERE n.metadata ? 'outcome';
            RETURN NULL;
          END
          $fn$`.execute(db);
        await sql`
          CREATE TRIGGER ${sql.id('events_outcomes')} AFTER INSERT ON ${s('events')}
            REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION ${s('record_outcomes')}()`.execute(db);
        await sql`INSERT INTO ${s('outcomes')} (${columns}) SELECT ${values('e')} FROM ${s('events')} e WHERE e.metadata ? 'outcome'`.execute(db);
        // The common filters and group keys; partial, so events without the field cost nothing.
        for (const [column, name] of [
          ['model_id', 'model'],
          ['tool_name', 'tool'],
          ['plan_id', 'plan'],
          ['experiment_id', 'experiment'],
          ['session_id', 'session'],
          ['task_id', 'task'],
        ] as const) {
          await sql`
            CREATE INDEX ${sql.id(`outcomes_${name}`)} ON ${s('outcomes')} (partition, ${sql.id(column)}, outcome)
              INCLUDE (duration_ms) WHERE ${sql.id(column)} IS NOT NULL`.execute(db);
        }
        await sql`CREATE INDEX ${sql.id('outcomes_outcome')} ON ${s('outcomes')} (partition, outcome, type)`.execute(db);
        await sql`CREATE INDEX ${sql.id('outcomes_occurred')} ON ${s('outcomes')} (partition, occurred_at)`.execute(db);
      },
    },
  };
}

/**
 * Runs kysely's `Migrator` for one schema's migrations (tables `<table>` and `<table>_lock` in
 * `schema`), through a view of `db` whose introspection looks at that schema only.
 *
 * kysely's own Postgres introspector lists every table of the database and calls
 * `has_schema_privilege(<name>)` for each schema it sees; a schema that another session drops
 * meanwhile fails the whole migration with "schema … does not exist" (3F000), so one tenant
 * dropping its schema could stop another's start-up. Here the migrator asks only about `schema`.
 */
export async function migrateSchema(db: AnyKysely, schema: string, all: Record<string, Migration>, table: string): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db: scopedIntrospection(db, schema),
    provider: new StaticProvider(all),
    migrationTableSchema: schema,
    migrationTableName: table,
    migrationLockTableName: `${table}_lock`,
  });
  return migrator.migrateToLatest();
}

function scopedIntrospection(db: AnyKysely, schema: string): AnyKysely {
  const introspector: DatabaseIntrospector = {
    async getSchemas(): Promise<SchemaMetadata[]> {
      const { rows } = await sql<{ name: string }>`SELECT nspname AS name FROM pg_catalog.pg_namespace WHERE nspname = ${schema}`.execute(db);
      return rows.map((row) => ({ name: row.name }));
    },
    async getTables(): Promise<TableMetadata[]> {
      const { rows } = await sql<{ name: string }>`
        SELECT c.relname AS name FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'p')`.execute(db);
      return rows.map((row) => ({ name: row.name, schema, isView: false, isForeign: false, columns: [] }));
    },
  };
  return new Proxy(db, {
    get(target, key) {
      if (key === 'introspection') return introspector;
      const value: unknown = Reflect.get(target, key, target);
      // Kysely keeps its state in private fields, which only the real instance can read.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
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
 * @throws {EventStoreError} (code `EVENT_STORE_BACKEND_ERROR`, the failed migration's error as `cause`) when one failed
 */
export async function migrateEventStore(db: AnyKysely, options: MigrateEventStoreOptions = {}): Promise<MigrationResultSet> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const result = await migrateSchema(db, schema, migrations(schema), 'migrations');
  if (result.error !== undefined) {
    throw new EventStoreError(EventStoreErrorCode.Backend, `event store migration in schema ${JSON.stringify(schema)} failed`, { cause: result.error });
  }
  return result;
}
