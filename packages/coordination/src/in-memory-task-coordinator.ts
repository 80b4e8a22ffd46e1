import { throwIfAborted } from '@buckley/utils';
import type { TaskStatus, TaskCoordinator } from './task-coordinator.js';
import {
  type ReserveClaim,
  type ReserveQuery,
  type TaskCoordinatorCoreOptions,
  type TaskAdvance,
  type TaskRecord,
  type TaskTable,
  createTaskCoordinatorCore,
  reservedRecord,
} from './task-core.js';

/** Options of {@link createInMemoryTaskCoordinator}. */
export type InMemoryTaskCoordinatorOptions = Omit<TaskCoordinatorCoreOptions, 'table' | 'ownsTable'>;

/**
 * A {@link TaskCoordinator} for one process: the dispatch index is a map, the transitions go
 * to `store` (an in-memory or embedded store, or any other). Idle workers are woken directly.
 *
 * @example
 * ```ts
 * const coordinator = createInMemoryTaskCoordinator({ store: createInMemoryEventStore() });
 * await coordinator.submit({ payload: { n: 1 } });
 * const lease = await coordinator.claim({ workerId: 'w1' });
 * ```
 */
export function createInMemoryTaskCoordinator(options: InMemoryTaskCoordinatorOptions): TaskCoordinator {
  return createTaskCoordinatorCore({ ...options, table: new InMemoryTaskTable(), ownsTable: true });
}

/** Claimable now: pending and due, or claimed with a lease that ran out. */
function isClaimable(record: TaskRecord, now: number): boolean {
  return (record.status === 'pending' && record.availableAt <= now) || (record.status === 'claimed' && (record.leaseExpiresAt ?? 0) <= now);
}

/** True when every capability the task needs is in `capabilities`. */
function hasCapabilities(record: TaskRecord, capabilities: readonly string[]): boolean {
  return record.capabilities.every((c) => capabilities.includes(c));
}

type Entry = { seq: number; record: TaskRecord };

/** Inserts `entry` into `best` (sorted by `first`, at most `k` long) if it is among the `k` first. */
function keepOldest(best: Entry[], entry: Entry, k: number, first: (a: Entry, b: Entry) => number): void {
  if (k === 0 || (best.length === k && first(entry, best[k - 1]!) >= 0)) return;
  let i = best.length;
  while (i > 0 && first(entry, best[i - 1]!) < 0) i--;
  best.splice(i, 0, entry);
  if (best.length > k) best.pop();
}

/** The in-memory {@link TaskTable}. Each call runs to completion without awaiting, so it is atomic in one process. */
export class InMemoryTaskTable implements TaskTable {
  readonly #records = new Map<string, Entry>();
  #seq = 0;

  async insert(record: TaskRecord, signal?: AbortSignal): Promise<TaskRecord> {
    throwIfAborted(signal);
    const existing = this.#records.get(record.id);
    if (existing) return existing.record;
    this.#records.set(record.id, { seq: this.#seq++, record });
    return record;
  }

  async discard(id: string): Promise<void> {
    if (this.#records.get(id)?.record.version === 0) this.#records.delete(id);
  }

  async get(id: string, signal?: AbortSignal): Promise<TaskRecord | undefined> {
    throwIfAborted(signal);
    return this.#records.get(id)?.record;
  }

  async list(options: { statuses: readonly TaskStatus[] | undefined; limit: number }, signal?: AbortSignal): Promise<TaskRecord[]> {
    throwIfAborted(signal);
    const out: TaskRecord[] = [];
    for (const { record } of this.#records.values()) {
      if (out.length >= options.limit) break;
      if (!options.statuses || options.statuses.includes(record.status)) out.push(record);
    }
    return out;
  }

  async reserve(query: ReserveQuery, claim: ReserveClaim, signal?: AbortSignal): Promise<{ before: TaskRecord; after: TaskRecord } | undefined> {
    return (await this.reserveMany(query, [claim], signal))[0];
  }

  async reserveMany(query: ReserveQuery, claims: readonly ReserveClaim[], signal?: AbortSignal): Promise<Array<{ before: TaskRecord; after: TaskRecord }>> {
    throwIfAborted(signal);
    // The oldest `claims.length` of each kind, kept sorted while scanning (claims are few, records many).
    const k = claims.length;
    const pending: Entry[] = [];
    const expired: Entry[] = [];
    const pendingFirst = (a: Entry, b: Entry) => a.record.availableAt - b.record.availableAt || a.seq - b.seq;
    const expiredFirst = (a: Entry, b: Entry) => (a.record.leaseExpiresAt ?? 0) - (b.record.leaseExpiresAt ?? 0) || a.seq - b.seq;
    for (const entry of this.#records.values()) {
      const { record } = entry;
      if (!isClaimable(record, query.now) || !hasCapabilities(record, query.capabilities)) continue;
      if (record.status === 'pending') keepOldest(pending, entry, k, pendingFirst);
      else keepOldest(expired, entry, k, expiredFirst);
    }
    return [...pending, ...expired].slice(0, claims.length).map((pick, i) => {
      const after = reservedRecord(pick.record, claims[i]!);
      this.#records.set(after.id, { seq: pick.seq, record: after });
      return { before: pick.record, after };
    });
  }

  async advanceMany(items: readonly TaskAdvance[], signal?: AbortSignal): Promise<Set<string>> {
    throwIfAborted(signal);
    const done = new Set<string>();
    for (const { id, fromVersion, record } of items) if (await this.advance(id, fromVersion, record)) done.add(id);
    return done;
  }

  async advance(id: string, fromVersion: number, record: TaskRecord, signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal);
    const entry = this.#records.get(id);
    if (!entry || entry.record.version !== fromVersion) return false;
    this.#records.set(id, { seq: entry.seq, record });
    return true;
  }

  async update(
    id: string,
    change: (record: TaskRecord) => TaskRecord | undefined,
    signal?: AbortSignal,
  ): Promise<{ record: TaskRecord; changed: boolean } | undefined> {
    throwIfAborted(signal);
    const entry = this.#records.get(id);
    if (!entry) return undefined;
    const next = change(entry.record);
    if (!next) return { record: entry.record, changed: false };
    this.#records.set(id, { seq: entry.seq, record: next });
    return { record: next, changed: true };
  }

  async close(): Promise<void> {
    this.#records.clear();
  }
}
