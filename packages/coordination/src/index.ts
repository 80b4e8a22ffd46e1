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
export {
  BusClosedError,
  BusError,
  BusErrorCode,
  BusTimeoutError,
  BusUnavailableError,
  InvalidHeaderError,
  InvalidMessageError,
  InvalidSubjectError,
  NoRespondersError,
  PayloadTooLargeError,
  SlowConsumerError,
  isBusError,
  isBusTimeoutError,
  isNoRespondersError,
} from './bus-errors.js';
export {
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_REQUEST_TIMEOUT_MS,
  ORIGINAL_SUBJECT_HEADER,
  REJECT_REASON_HEADER,
  decodeJson,
  decodeText,
  encodeJson,
  publishJson,
  requestJson,
  subscribeJson,
} from './bus.js';
export type {
  Bus,
  BusHandler,
  BusHeaders,
  BusMessage,
  BusPayload,
  BusPublishOptions,
  BusRequestOptions,
  BusSubscribeOptions,
  BusSubscription,
  SubscribeJsonOptions,
} from './bus.js';
export { InMemoryBus } from './in-memory-bus.js';
export type { InMemoryBusOptions } from './in-memory-bus.js';
export {
  agentInboxSubject,
  assertSubject,
  decodeSubjectToken,
  encodeSubjectToken,
  isConcreteSubject,
  buildSubject,
  subjectMatches,
} from './subject.js';
export type { SubjectKind } from './subject.js';
export { RetryExhaustedError, backoffDelay, retry } from './retry.js';
export type { RetryOptions } from './retry.js';
export { CircuitBreaker, CircuitOpenError } from './circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitMetrics, CircuitState, CircuitStateChange } from './circuit-breaker.js';
export { createInMemoryEventStore } from './in-memory-event-store.js';
export type { InMemoryEventStoreOptions } from './in-memory-event-store.js';
export {
  AgentAlreadyRegisteredError,
  AgentExpiredError,
  AgentNotFoundError,
  AgentRegistryConflictError,
  AgentRegistryError,
  AgentRegistryErrorCode,
  InvalidAgentError,
  createAgentRegistry,
  createInMemoryAgentStorage,
  isAgentRegistryError,
} from './agent-registry.js';
export type {
  AgentQuery,
  AgentRecord,
  AgentRegistration,
  AgentRegistry,
  AgentRegistryOptions,
  AgentRegistryStorage,
  RevisionedValue,
} from './agent-registry.js';
export {
  PEER_TOKEN_HEADER,
  PeerError,
  PeerErrorCode,
  PeerRequestError,
  PeerTokenAuthority,
  PeerTokenExpiredError,
  PeerTokenReusedError,
  PeerTokenUnknownError,
  createPeer,
  isPeerError,
} from './peer.js';
export type { Peer, PeerOptions, PeerRequestContext, PeerRequestOptions, PeerTokenAuthorityOptions, PeerTokenClaims } from './peer.js';

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
export { DEFAULT_TASK_WAKEUP_SUBJECT, createBusTaskWakeup } from './bus-task-wakeup.js';
export type { BusTaskWakeupOptions } from './bus-task-wakeup.js';
export {
  EVENT_SUBJECT_PREFIX,
  EventHeader,
  InMemoryCheckpointStore,
  createBusEventPublisher,
  createEventDeduper,
  createOutboxRelay,
  eventHeaders,
  eventSubject,
} from './outbox-relay.js';
export type {
  BusEventPublisherOptions,
  CheckpointStore,
  EventDeduper,
  EventDeduperOptions,
  EventPublisher,
  OutboxRelay,
  OutboxRelayOptions,
} from './outbox-relay.js';
