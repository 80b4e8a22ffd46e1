/**
 * Building blocks shared by the event store adapters (`@buckley/postgres`, `@buckley/nats`):
 * the one implementation of input validation and the pull-based subscription loop. Not for
 * applications; may change in any release.
 */
export {
  MAX_EVENT_TYPE_LENGTH,
  MAX_STREAM_ID_LENGTH,
  assertStreamId,
  checkExpectedVersion,
  isEmptyFilter,
  jsonProblem,
  matchesFilter,
  normalizeFilter,
  prepareAppends,
  prepareSnapshot,
  resolveExpectedVersion,
  resolvePosition,
  resolveReadAllOptions,
  resolveReadOptions,
  resolveStoreOptions,
  resolveSubscribeFrom,
  toIsoMillis,
} from './validation.js';
export type {
  NormalizedFilter,
  PreparedAppend,
  PreparedEvent,
  ResolvedReadAllOptions,
  ResolvedReadOptions,
  ResolvedStoreOptions,
  ResolvedSubscribeFrom,
} from './validation.js';
export { DEFAULT_MAX_PENDING, SerialDispatcher, warnBusError } from './bus-dispatch.js';
export { assertHeaders, toBytes } from './bus.js';
export { ChangeNotifier, createPullSubscription } from './subscription.js';
export type { PullSource, PullSubscriptionOptions } from './subscription.js';

// Task coordinator building blocks for the Postgres adapter (issue 6).
export { applyTaskEvents, createTaskCoordinatorCore, reservedRecord, toTask } from './task-core.js';
export type { ReserveClaim, ReserveQuery, TaskCoordinatorCoreOptions, TaskRecord, TaskTable } from './task-core.js';
export { InMemoryTaskTable, hasCapabilities, isClaimable } from './in-memory-task-coordinator.js';
