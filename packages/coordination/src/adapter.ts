/**
 * What a `TaskCoordinator` adapter is built from (`@buckley/postgres` uses it): the shared
 * state machine of submit, claim, extend, complete, fail, park and replay over a storage
 * `TaskTable` that only finds and reserves rows, so every adapter decides leases, retries and
 * parking the same way and appends the same events. Applications use the main entry; this one
 * may change in any minor release.
 *
 * @example
 * ```ts
 * import { createTaskCoordinatorCore } from '@buckley/coordination/adapter';
 *
 * const coordinator = createTaskCoordinatorCore({ store, table: myTaskTable, leaseMs: 30_000 });
 * ```
 */
export { createTaskCoordinatorCore, pendingTaskRecord, reservedRecord } from './task-core.js';
export type { PendingTaskFields, ReserveClaim, ReserveQuery, TaskAdvance, TaskCoordinatorCoreOptions, TaskRecord, TaskTable } from './task-core.js';
