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
  AgentEvent,
  AgentHeartbeatMissedData,
  AgentQuery,
  AgentRegisteredData,
  AgentUnregisteredData,
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

export { TASK_EVENT_TYPES, taskStreamId } from './task-coordinator.js';
export type {
  ClaimTaskOptions,
  CompleteAndClaimInput,
  CompleteAndClaimResult,
  FailTaskOptions,
  ListTasksOptions,
  SubmitTaskInput,
  Task,
  TaskCoordinator,
  TaskCompletion,
  TaskCompletionOutcome,
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
export { createLocalTaskWakeup } from './task-core.js';
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
