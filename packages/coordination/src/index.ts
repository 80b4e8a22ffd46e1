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
