import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Client, Pool, type PoolConfig } from 'pg';

/** The Postgres of the integration tier: `BUCKLEY_TEST_POSTGRES_URL` or the local default. */
export function postgresUrl(): string {
  return process.env.BUCKLEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/** A schema of its own on the test Postgres, with a pool; dropped (with everything in it) on close. */
export interface TestPostgres extends AsyncDisposable {
  readonly url: string;
  /** A fresh schema name, e.g. `t_store_0193...`. */
  readonly schema: string;
  /** A pool whose idle-client errors are swallowed, so terminating backends cannot crash the test. */
  readonly pool: Pool;
  /** Another pool on the same database (for the same schema), e.g. to act as a second process. */
  newPool(config?: PoolConfig): Pool;
  close(): Promise<void>;
}

/**
 * Creates a uniquely named schema for one test file and a pool to reach it. A Postgres that
 * cannot be reached makes this reject: the test fails, it never skips.
 *
 * @example
 * ```ts
 * const pg = await createTestPostgres('store');
 * afterAll(() => pg.close());
 * ```
 */
export async function createTestPostgres(prefix = 'test', config: PoolConfig = {}): Promise<TestPostgres> {
  const url = postgresUrl();
  const schema = `t_${prefix.replaceAll(/[^a-z0-9_]/g, '_')}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const pools: Pool[] = [];
  const newPool = (extra: PoolConfig = {}) => {
    const pool = new Pool({ connectionString: url, connectionTimeoutMillis: 10_000, ...config, ...extra });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  };
  const pool = newPool();
  try {
    await pool.query(`CREATE SCHEMA "${schema}"`);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot reach the test Postgres at ${url} (set BUCKLEY_TEST_POSTGRES_URL)`, { cause: error });
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    const admin = new Client({ connectionString: url });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end().catch(() => undefined);
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    }
  };
  return { url, schema, pool, newPool, close, [Symbol.asyncDispose]: close };
}

let template: Promise<PGlite> | undefined;

function pgliteVersion(): string {
  // The package does not export its package.json; find it from its resolved entry.
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve('@electric-sql/pglite'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The run's PGlite template: initdb runs once per machine and version (about 2 s), its data
 * directory is dumped to a file in the temp directory, and later processes load that dump
 * (about 0.3 s) instead.
 */
async function pgliteTemplate(): Promise<PGlite> {
  template ??= (async () => {
    const dir = join(tmpdir(), 'buckley-test');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `pglite-template-${pgliteVersion()}.tar.gz`);
    if (existsSync(file)) {
      try {
        return await PGlite.create({ loadDataDir: new Blob([readFileSync(file)]) });
      } catch {
        // A corrupt dump falls through to a fresh initdb, which rewrites it.
      }
    }
    const db = await PGlite.create();
    const dump = await db.dumpDataDir('gzip');
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    renameSync(tmp, file);
    return db;
  })();
  return template;
}

/**
 * A fresh in-memory PGlite cloned from the run's template (about 0.3 s instead of a 2 s
 * initdb). Close it when done (`await using`).
 */
export async function createTestPGlite(): Promise<PGlite & AsyncDisposable> {
  const db = (await (await pgliteTemplate()).clone()) as PGlite;
  return Object.assign(db, {
    [Symbol.asyncDispose]: async () => {
      if (!db.closed) await db.close();
    },
  });
}
