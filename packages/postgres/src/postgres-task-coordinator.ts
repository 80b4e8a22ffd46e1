import { InvalidTaskError, type TaskCoordinator, type TaskStatus } from '@buckley/coordination';
import {
  type ReserveClaim,
  type ReserveQuery,
  type TaskAdvance,
  type TaskCoordinatorCoreOptions,
  type TaskRecord,
  type TaskTable,
  createTaskCoordinatorCore,
  reservedRecord,
} from '@buckley/coordination/adapter';
import { throwIfAborted } from '@buckley/utils';
import { Kysely, PostgresDialect, type PostgresPool, sql } from 'kysely';
import type { Migration, MigrationResultSet } from 'kysely/migration';
import { type AnyKysely, DEFAULT_SCHEMA, assertSchemaName, migrateSchema } from './schema.js';

/**
 * Migrations of the coordinator's own tables (the dispatch index `tasks` and the outbox
 * relay's `relay_checkpoints`), kept apart from the event store's so either can be used alone.
 */
function coordinatorMigrations(schema: string): Record<string, Migration> {
  const s = (name: string) => sql.id(schema, name);
  return {
    '2026-11-24-001-tasks': {
      async up(db) {
        await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
        // Times are Unix milliseconds (bigint): the core's clock decides leases, not the server's.
        await sql`
          CREATE TABLE ${s('tasks')} (
            partition        text    NOT NULL,
            task_id          text    NOT NULL,
            seq              bigint  GENERATED ALWAYS AS IDENTITY,
            type             text    NOT NULL,
            status           text    NOT NULL CHECK (status IN ('pending', 'claimed', 'completed', 'parked')),
            capabilities     text[]  NOT NULL,
            payload          jsonb   NOT NULL,
            attempt          int     NOT NULL,
            attempt_base     int     NOT NULL,
            max_attempts     int     NOT NULL,
            version          bigint  NOT NULL,
            available_at     bigint  NOT NULL,
            worker_id        text,
            lease_token      text,
            lease_expires_at bigint,
            result           jsonb,
            last_error       jsonb,
            park_reason      text,
            submitted_at     bigint  NOT NULL,
            PRIMARY KEY (partition, task_id)
          )`.execute(db);
        await sql`CREATE INDEX ${sql.id('tasks_pending')} ON ${s('tasks')} (partition, available_at, seq) WHERE status = 'pending'`.execute(db);
        await sql`CREATE INDEX ${sql.id('tasks_leased')} ON ${s('tasks')} (partition, lease_expires_at) WHERE status = 'claimed'`.execute(db);
        await sql`CREATE INDEX ${sql.id('tasks_status')} ON ${s('tasks')} (partition, status, seq)`.execute(db);
        await sql`
          CREATE TABLE ${s('relay_checkpoints')} (
            partition  text        NOT NULL,
            name       text        NOT NULL,
            position   text        NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (partition, name)
          )`.execute(db);
      },
    },
  };
}

/** Options of {@link migrateTaskCoordinator}. */
export interface MigrateTaskCoordinatorOptions {
  /** Schema of the tables; default `buckley`. */
  readonly schema?: string;
}

/**
 * Creates or updates the coordinator's tables (`tasks`, `relay_checkpoints`) in `schema`.
 * Idempotent and safe from several processes at once (kysely's migrator holds an advisory lock).
 */
export async function migrateTaskCoordinator(db: AnyKysely, options: MigrateTaskCoordinatorOptions = {}): Promise<MigrationResultSet> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const result = await migrateSchema(db, schema, coordinatorMigrations(schema), 'coordinator_migrations');
  if (result.error !== undefined) {
    throw new Error(`task coordinator migration in schema ${JSON.stringify(schema)} failed`, { cause: result.error });
  }
  return result;
}

/** Options of {@link createPostgresTaskCoordinator}. */
export interface PostgresTaskCoordinatorOptions extends Omit<TaskCoordinatorCoreOptions, 'table' | 'ownsTable'> {
  /** The caller's `pg.Pool` (never ended by the coordinator). */
  readonly pool?: PostgresPool;
  /** The caller's Kysely over Postgres or PGlite, instead of `pool`. */
  readonly db?: AnyKysely;
  /** Schema of the `tasks` table; default `buckley`. */
  readonly schema?: string;
  /** Tenant partition of the rows; default the store's partition. */
  readonly partition?: string;
  /** Run the migrations first; default true. */
  readonly migrate?: boolean;
}

/**
 * The {@link TaskCoordinator} for several processes on one Postgres: the dispatch index is the
 * `tasks` table, claimed with `SELECT … FOR UPDATE SKIP LOCKED` so concurrent workers never
 * wait on each other's rows; transitions are fenced by the task stream's expected version in
 * `store`, which stays the truth. Pass a bus wake-up (`createBusTaskWakeup`) so idle workers in
 * other processes claim new work at once instead of at their next poll.
 *
 * @example
 * ```ts
 * const coordinator = await createPostgresTaskCoordinator({ pool, store, wakeup: createBusTaskWakeup(bus) });
 * ```
 */
export async function createPostgresTaskCoordinator(options: PostgresTaskCoordinatorOptions): Promise<TaskCoordinator> {
  const { pool, db: given, schema = DEFAULT_SCHEMA, migrate = true, ...core } = options;
  if (pool === undefined && given === undefined) throw new InvalidTaskError('pool must be a pg.Pool (or pass a Kysely in db), got undefined');
  assertSchemaName(schema);
  const db: AnyKysely = given ?? new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: pool! }) });
  if (migrate) await migrateTaskCoordinator(db, { schema });
  const table = new PostgresTaskTable(db, schema, options.partition ?? options.store.partition);
  return createTaskCoordinatorCore({ ...core, table, ownsTable: true });
}

interface TaskRow {
  task_id: string;
  type: string;
  status: TaskStatus;
  capabilities: string[];
  payload: unknown;
  attempt: number;
  attempt_base: number;
  max_attempts: number;
  version: string | number;
  available_at: string | number;
  worker_id: string | null;
  lease_token: string | null;
  lease_expires_at: string | number | null;
  result: unknown;
  last_error: unknown;
  park_reason: string | null;
  submitted_at: string | number;
}

const json = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value);
const optNum = (value: string | number | null) => (value === null ? undefined : Number(value));

function fromRow(row: TaskRow): TaskRecord {
  return {
    id: row.task_id,
    type: row.type,
    status: row.status,
    capabilities: row.capabilities,
    payload: json(row.payload),
    attempt: row.attempt,
    attemptBase: row.attempt_base,
    maxAttempts: row.max_attempts,
    version: Number(row.version),
    availableAt: Number(row.available_at),
    workerId: row.worker_id ?? undefined,
    leaseToken: row.lease_token ?? undefined,
    leaseExpiresAt: optNum(row.lease_expires_at),
    result: row.result === null ? undefined : json(row.result),
    lastError: row.last_error === null ? undefined : json(row.last_error),
    parkReason: (row.park_reason ?? undefined) as TaskRecord['parkReason'],
    submittedAt: Number(row.submitted_at),
  };
}

const jsonb = (value: unknown) => (value === undefined ? sql`NULL` : sql`${JSON.stringify(value)}::jsonb`);
const textArray = (values: readonly string[]) => sql`${`{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`}::text[]`;

/** The Postgres {@link TaskTable}: one row per task in `<schema>.tasks`. */
class PostgresTaskTable implements TaskTable {
  readonly #db: AnyKysely;
  readonly #partition: string;
  readonly #t;

  constructor(db: AnyKysely, schema: string, partition: string) {
    this.#db = db;
    this.#partition = partition;
    this.#t = sql.id(schema, 'tasks');
  }

  async insert(r: TaskRecord, signal?: AbortSignal): Promise<TaskRecord> {
    throwIfAborted(signal);
    const inserted = await sql<TaskRow>`
      INSERT INTO ${this.#t} (partition, task_id, type, status, capabilities, payload, attempt, attempt_base, max_attempts,
                              version, available_at, submitted_at)
      VALUES (${this.#partition}, ${r.id}, ${r.type}, ${r.status}, ${textArray(r.capabilities)}, ${jsonb(r.payload)}, ${r.attempt},
              ${r.attemptBase}, ${r.maxAttempts}, ${r.version}, ${r.availableAt}, ${r.submittedAt})
      ON CONFLICT (partition, task_id) DO NOTHING
      RETURNING *`.execute(this.#db);
    if (inserted.rows[0]) return fromRow(inserted.rows[0]);
    const existing = await this.get(r.id);
    if (!existing) throw new Error(`task ${JSON.stringify(r.id)} vanished during insert`);
    return existing;
  }

  async discard(id: string): Promise<void> {
    await sql`DELETE FROM ${this.#t} WHERE partition = ${this.#partition} AND task_id = ${id} AND version = 0`.execute(this.#db);
  }

  async get(id: string, signal?: AbortSignal): Promise<TaskRecord | undefined> {
    throwIfAborted(signal);
    const { rows } = await sql<TaskRow>`SELECT * FROM ${this.#t} WHERE partition = ${this.#partition} AND task_id = ${id}`.execute(this.#db);
    return rows[0] && fromRow(rows[0]);
  }

  async list(options: { statuses: readonly TaskStatus[] | undefined; limit: number }, signal?: AbortSignal): Promise<TaskRecord[]> {
    throwIfAborted(signal);
    const statusFilter = options.statuses ? sql`AND status = ANY (${textArray(options.statuses)})` : sql``;
    const { rows } = await sql<TaskRow>`
      SELECT * FROM ${this.#t} WHERE partition = ${this.#partition} ${statusFilter} ORDER BY seq LIMIT ${options.limit}`.execute(this.#db);
    return rows.map(fromRow);
  }

  async reserve(query: ReserveQuery, claim: ReserveClaim, signal?: AbortSignal): Promise<{ before: TaskRecord; after: TaskRecord } | undefined> {
    return (await this.reserveMany(query, [claim], signal))[0];
  }

  async reserveMany(query: ReserveQuery, claims: readonly ReserveClaim[], signal?: AbortSignal): Promise<Array<{ before: TaskRecord; after: TaskRecord }>> {
    throwIfAborted(signal);
    if (claims.length === 0) return [];
    const caps = textArray(query.capabilities);
    const n = claims.length;
    const first = claims[0]!;
    // One statement: the oldest due pending rows, then as many rows with expired leases as are
    // still wanted, each locked with SKIP LOCKED so concurrent claimers pass over each other's
    // candidates instead of queueing on them; every picked row gets one of the tokens, and
    // RETURNING gives the rows as they were before. The commit does not wait for its WAL
    // flush: the row is an index, the task stream is the truth, and the claim's append, which
    // is flushed, comes later in the WAL, so a claim that took effect carries this write with it.
    const { rows } = await sql<TaskRow & { claim_token: string; claim_n: string | number }>`
      WITH cfg AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
      pending AS (
        SELECT * FROM ${this.#t}
         WHERE partition = ${this.#partition} AND status = 'pending' AND available_at <= ${query.now} AND capabilities <@ ${caps}
         ORDER BY available_at, seq LIMIT ${n} FOR UPDATE SKIP LOCKED
      ),
      expired AS (
        SELECT * FROM ${this.#t}
         WHERE partition = ${this.#partition} AND status = 'claimed' AND lease_expires_at <= ${query.now} AND capabilities <@ ${caps}
         ORDER BY lease_expires_at LIMIT greatest(0, ${n}::int - (SELECT count(*) FROM pending)) FOR UPDATE SKIP LOCKED
      ),
      picked AS (
        SELECT *, row_number() OVER () AS n FROM (SELECT *, 0 AS kind FROM pending UNION ALL SELECT *, 1 AS kind FROM expired) AS p
      ),
      tokens AS (SELECT * FROM unnest(${textArray(claims.map((c) => c.token))}) WITH ORDINALITY AS tk(token, n))
      UPDATE ${this.#t} AS t SET status = 'claimed', attempt = t.attempt + 1, worker_id = ${first.workerId},
             lease_token = tokens.token, lease_expires_at = ${first.leaseExpiresAt}
        FROM picked JOIN tokens USING (n), cfg
       WHERE t.partition = picked.partition AND t.task_id = picked.task_id
      RETURNING picked.*, tokens.token AS claim_token, picked.n AS claim_n`.execute(this.#db);
    const byToken = new Map(claims.map((c) => [c.token, c]));
    return rows
      .toSorted((a, b) => Number(a.claim_n) - Number(b.claim_n))
      .map((row) => {
        const before = fromRow(row);
        return { before, after: reservedRecord(before, byToken.get(row.claim_token)!) };
      });
  }

  async advance(id: string, fromVersion: number, record: TaskRecord, signal?: AbortSignal): Promise<boolean> {
    return (await this.advanceMany([{ id, fromVersion, record }], signal)).has(id);
  }

  async advanceMany(items: readonly TaskAdvance[], signal?: AbortSignal): Promise<Set<string>> {
    throwIfAborted(signal);
    if (items.length === 0) return new Set();
    const values = JSON.stringify(
      items.map(({ fromVersion, record: r }) => ({
        task_id: r.id,
        from_version: fromVersion,
        type: r.type,
        status: r.status,
        capabilities: r.capabilities,
        payload: r.payload,
        attempt: r.attempt,
        attempt_base: r.attemptBase,
        max_attempts: r.maxAttempts,
        version: r.version,
        available_at: r.availableAt,
        worker_id: r.workerId ?? null,
        lease_token: r.leaseToken ?? null,
        lease_expires_at: r.leaseExpiresAt ?? null,
        result: r.result ?? null,
        last_error: r.lastError ?? null,
        park_reason: r.parkReason ?? null,
      })),
    );
    // Unflushed commit, as in reserveMany: a lost write leaves the row behind its stream,
    // which the next transition on the task notices (its append fails on the version) and repairs.
    const { rows } = await sql<{ task_id: string }>`
      WITH cfg AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
      v AS (
        SELECT * FROM jsonb_to_recordset(${values}::jsonb) AS x(
          task_id text, from_version bigint, type text, status text, capabilities text[], payload jsonb, attempt int,
          attempt_base int, max_attempts int, version bigint, available_at bigint, worker_id text, lease_token text,
          lease_expires_at bigint, result jsonb, last_error jsonb, park_reason text)
      )
      UPDATE ${this.#t} AS t SET
        type = v.type, status = v.status, capabilities = v.capabilities, payload = v.payload, attempt = v.attempt,
        attempt_base = v.attempt_base, max_attempts = v.max_attempts, version = v.version, available_at = v.available_at,
        worker_id = v.worker_id, lease_token = v.lease_token, lease_expires_at = v.lease_expires_at, result = v.result,
        last_error = v.last_error, park_reason = v.park_reason
        FROM v, cfg
       WHERE t.partition = ${this.#partition} AND t.task_id = v.task_id AND t.version = v.from_version
      RETURNING t.task_id`.execute(this.#db);
    return new Set(rows.map((r) => r.task_id));
  }

  async update(
    id: string,
    change: (record: TaskRecord) => TaskRecord | undefined,
    signal?: AbortSignal,
  ): Promise<{ record: TaskRecord; changed: boolean } | undefined> {
    throwIfAborted(signal);
    return this.#db.transaction().execute(async (trx) => {
      const { rows } = await sql<TaskRow>`
        SELECT * FROM ${this.#t} WHERE partition = ${this.#partition} AND task_id = ${id} FOR UPDATE`.execute(trx);
      if (!rows[0]) return undefined;
      const record = fromRow(rows[0]);
      const next = change(record);
      if (!next) return { record, changed: false };
      await this.#write(trx, next);
      return { record: next, changed: true };
    });
  }

  /** Writes every mutable column of the row locked by the caller's transaction. */
  async #write(db: AnyKysely, r: TaskRecord): Promise<void> {
    await sql`
      UPDATE ${this.#t} SET
        type = ${r.type}, status = ${r.status}, capabilities = ${textArray(r.capabilities)}, payload = ${jsonb(r.payload)},
        attempt = ${r.attempt}, attempt_base = ${r.attemptBase}, max_attempts = ${r.maxAttempts}, version = ${r.version},
        available_at = ${r.availableAt}, worker_id = ${r.workerId ?? null}, lease_token = ${r.leaseToken ?? null},
        lease_expires_at = ${r.leaseExpiresAt ?? null}, result = ${jsonb(r.result)}, last_error = ${jsonb(r.lastError)},
        park_reason = ${r.parkReason ?? null}
      WHERE partition = ${this.#partition} AND task_id = ${r.id}`.execute(db);
  }

  async close(): Promise<void> {}
}
