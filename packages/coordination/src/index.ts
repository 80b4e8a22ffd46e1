export { ATTRIBUTION_KEYS, DEFAULT_MAX_EVENT_BYTES, DEFAULT_READ_ALL_LIMIT, OUTCOMES } from './event-store.js';
export type {
  AppendOptions,
  AppendToStreamsOptions,
  AttributionKey,
  EventFilter,
  EventHandler,
  EventMetadata,
  EventStore,
  EventStoreOptions,
  ExpectedVersion,
  JsonObject,
  JsonPrimitive,
  JsonValue,
  NewEvent,
  Outcome,
  ReadAllOptions,
  ReadOptions,
  SignalOptions,
  Snapshot,
  StoredEvent,
  StreamAppend,
  SubscribeFrom,
  SubscribeOptions,
  Subscription,
} from './event-store.js';
export {
  EventStoreClosedError,
  EventStoreError,
  EventStoreErrorCode,
  EventStoreUnavailableError,
  InvalidEventError,
  InvalidEventStoreOptionError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  WrongExpectedVersionError,
  isEventStoreClosedError,
  isEventStoreError,
  isEventStoreUnavailableError,
  isInvalidEventError,
  isWrongExpectedVersionError,
} from './errors.js';
export { createInMemoryEventStore } from './in-memory-event-store.js';
export type { InMemoryEventStoreOptions } from './in-memory-event-store.js';

// Task coordinator (issue 6).
export { TASK_EVENT_TYPES, taskStreamId } from './task-coordinator.js';
export type {
  ClaimTaskOptions,
  FailTaskOptions,
  ListTasksOptions,
  SubmitTaskInput,
  Task,
  TaskCoordinator,
  TaskError,
  TaskEventType,
  TaskLease,
  TaskParkReason,
  TaskRetryPolicy,
  TaskStatus,
  WaitForWorkOptions,
} from './task-coordinator.js';
export {
  InvalidTaskError,
  TaskCoordinatorClosedError,
  TaskCoordinatorError,
  TaskErrorCode,
  TaskLeaseLostError,
  TaskNotFoundError,
  TaskStateError,
  isTaskCoordinatorError,
  isTaskLeaseLostError,
} from './task-errors.js';
export { createInMemoryTaskCoordinator } from './in-memory-task-coordinator.js';
export type { InMemoryTaskCoordinatorOptions } from './in-memory-task-coordinator.js';
export { createLocalTaskWakeup, deterministicEventId } from './task-core.js';
export type { TaskWakeup } from './task-core.js';
export { runTaskWorker } from './task-worker.js';
export type { TaskHandler, TaskWorkContext, TaskWorker, TaskWorkerOptions } from './task-worker.js';
