import { closeSync, mkdirSync, openSync, readFileSync, realpathSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { EventStoreUnavailableError, InvalidEventStoreOptionError } from '@buckley/events';
import { resolveStoreOptions } from '@buckley/events/adapter';
import { Kysely, type PGlite as KyselyPGlite, PGliteDialect } from 'kysely';
import { SQL_STORE_KEYS, hasMethods, resolveMigrate, resolvePollMs } from './postgres.js';
import { type EventStoreBackend, type PostgresEventStore, SqlEventStore, type SqlEventStoreOptions } from './postgres-event-store.js';
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
 * With `dataDir`, an append that resolved survives a kill of the process (not a machine crash:
 * PGlite never fsyncs; see the README, "Durability of the embedded store"), and the directory is
 * locked (`<dataDir>.lock`) while the store is open.
 *
 * @throws {EventStoreUnavailableError} when another open store, in this or a live process, holds `dataDir`
 * @throws {InvalidEventStoreOptionError} for a bad option, or a `pglite` with `synchronous_commit` off
 *
 * @example
 * ```ts
 * await using store = await createPGliteEventStore({ dataDir: '.buckley/data' });
 * ```
 */
export async function createPGliteEventStore(options: PGliteEventStoreOptions = {}): Promise<PostgresEventStore> {
  const resolved = resolveStoreOptions(options, [...SQL_STORE_KEYS, 'pglite', 'dataDir']);
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertSchemaName(schema);
  const migrate = resolveMigrate(options.migrate);
  const pollMs = resolvePollMs(options.pollMs);
  if (options.pglite !== undefined && !hasMethods(options.pglite, 'query', 'listen')) {
    throw new InvalidEventStoreOptionError('pglite', options.pglite, 'a PGlite (an object with query and listen), or leave it out');
  }
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir.length === 0)) {
    throw new InvalidEventStoreOptionError('dataDir', options.dataDir, 'a non-empty directory path');
  }
  let pglite = options.pglite;
  const owned = pglite === undefined;
  let lock: DataDirLock | undefined;
  if (pglite === undefined) {
    const { PGlite } = await import('@electric-sql/pglite');
    if (options.dataDir === undefined) {
      pglite = (await PGlite.create({})) as unknown as PGliteLike;
    } else {
      lock = lockDataDir(options.dataDir);
      try {
        // synchronous_commit on the command line wins over any postgresql.auto.conf in the
        // directory: each commit writes its WAL before the append resolves (see README).
        pglite = (await PGlite.create({
          dataDir: options.dataDir,
          startParams: [...PGlite.defaultStartParams, '-c', 'synchronous_commit=on'],
        })) as unknown as PGliteLike;
      } catch (error) {
        lock.release();
        throw error;
      }
    }
  }
  const instance = pglite;
  try {
    await assertDurable(instance);
    // Not destroyed on close: destroying the dialect would close a PGlite the caller owns.
    const db = new Kysely<Record<string, never>>({ dialect: new PGliteDialect({ pglite: instance }) });
    if (migrate) await migrateEventStore(db, { schema });
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
        try {
          if (owned && !instance.closed) await instance.close();
        } finally {
          lock?.release();
        }
      },
    };
    return new SqlEventStore(backend, schema, resolved, pollMs);
  } catch (error) {
    if (owned && !instance.closed) await instance.close();
    lock?.release();
    throw error;
  }
}

/**
 * Refuses a PGlite whose commits return before their WAL is written (`synchronous_commit =
 * off`): on PGlite nothing else would write it (there is no WAL writer process), so a kill
 * would lose acknowledged appends.
 */
async function assertDurable(pglite: PGliteLike): Promise<void> {
  const rows = (await pglite.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows;
  const setting = rows[0]?.synchronous_commit;
  if (setting === 'off') {
    throw new InvalidEventStoreOptionError(
      'pglite',
      'synchronous_commit=off',
      'a PGlite with synchronous_commit on (with it off, a commit returns before its WAL is written and a killed process loses acknowledged appends)',
    );
  }
}

interface DataDirLock {
  release(): void;
}

/** Data directories this process holds (real path -> lock file contents). */
const heldDirs = new Map<string, string>();
let exitHook = false;

/**
 * Takes `<dataDir>.lock` for this process: PGlite itself takes no lock, and two processes (or
 * two stores of one process) writing one data directory interleave their WAL and lose commits.
 * The file holds the owner's pid; one left by a process that died (kill -9) is taken over.
 *
 * @throws {EventStoreUnavailableError} when a live process (or another store of this one) holds it
 */
function lockDataDir(dataDir: string): DataDirLock {
  let dir: string;
  try {
    mkdirSync(dataDir, { recursive: true });
    dir = realpathSync(resolve(dataDir));
  } catch (error) {
    throw fileError('cannot create the PGlite data directory given as dataDir', error);
  }
  if (heldDirs.has(dir)) {
    throw new EventStoreUnavailableError('the PGlite data directory given as dataDir is already open in this process', { retryable: false });
  }
  const file = lockFile(dir);
  const token = `${process.pid}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, token);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && attempt > 0) throw lockedError();
      if (code !== 'EEXIST') throw fileError('cannot lock the PGlite data directory given as dataDir: its parent directory must be writable', error);
      const owner = Number.parseInt(readFileOrEmpty(file), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) throw lockedError(owner);
      // Left by a process that is gone (or unreadable): take it over.
      try {
        unlinkSync(file);
      } catch {
        // another opener removed it first; the next attempt decides
      }
    }
  }
  heldDirs.set(dir, token);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const held of heldDirs.keys()) unlockDir(held);
    });
  }
  return { release: () => unlockDir(dir) };
}

function lockFile(dir: string): string {
  return `${dir}.lock`;
}

function unlockDir(dir: string): void {
  const token = heldDirs.get(dir);
  if (token === undefined) return;
  heldDirs.delete(dir);
  const file = lockFile(dir);
  try {
    if (readFileOrEmpty(file) === token) unlinkSync(file);
  } catch {
    // already gone
  }
}

function lockedError(owner?: number): EventStoreUnavailableError {
  const by = owner === undefined ? 'another process' : `process ${owner}`;
  return new EventStoreUnavailableError(
    `the PGlite data directory given as dataDir is open in ${by} (its lock file is dataDir + ".lock"); close that store first`,
    {
      retryable: false,
    },
  );
}

/**
 * A file system failure on the data directory. Node's error quotes the path (the caller's
 * `dataDir`), so only its code is kept, in the message; the path is the caller's own to look at.
 */
function fileError(what: string, error: unknown): EventStoreUnavailableError {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return new EventStoreUnavailableError(`${what} (${typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : 'file system error'})`, { retryable: false });
}

function readFileOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
