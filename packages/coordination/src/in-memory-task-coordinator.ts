import { throwIfAborted } from '@buckley/utils';
import type { TaskStatus, TaskCoordinator } from './task-coordinator.js';
import {
  type ReserveClaim,
  type ReserveQuery,
  type TaskCoordinatorCoreOptions,
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
export function isClaimable(record: TaskRecord, now: number): boolean {
  return (record.status === 'pending' && record.availableAt <= now) || (record.status === 'claimed' && (record.leaseExpiresAt ?? 0) <= now);
}

/** True when every capability the task needs is in `capabilities`. */
export function hasCapabilities(record: TaskRecord, capabilities: readonly string[]): boolean {
  return record.capabilities.every((c) => capabilities.includes(c));
}

/** The in-memory {@link TaskTable}. Each call runs to completion without awaiting, so it is atomic in one process. */
export class InMemoryTaskTable implements TaskTable {
  readonly #records = new Map<string, { seq: number; record: TaskRecord }>();
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
    throwIfAborted(signal);
    let best: { seq: number; record: TaskRecord } | undefined;
    let bestExpired: { seq: number; record: TaskRecord } | undefined;
    for (const entry of this.#records.values()) {
      const { record } = entry;
      if (!isClaimable(record, query.now) || !hasCapabilities(record, query.capabilities)) continue;
      if (record.status === 'pending') {
        if (!best || record.availableAt < best.record.availableAt || (record.availableAt === best.record.availableAt && entry.seq < best.seq)) best = entry;
      } else if (!bestExpired || (record.leaseExpiresAt ?? 0) < (bestExpired.record.leaseExpiresAt ?? 0)) {
        bestExpired = entry;
      }
    }
    const pick = best ?? bestExpired;
    if (!pick) return undefined;
    const after = reservedRecord(pick.record, claim);
    this.#records.set(after.id, { seq: pick.seq, record: after });
    return { before: pick.record, after };
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
