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
  EventIdConflictError,
  EventStoreError,
  EventStoreErrorCode,
  EventStoreUnavailableError,
  InvalidEventError,
  InvalidEventStoreOptionError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  WrongExpectedVersionError,
  isEventIdConflictError,
  isEventStoreError,
  isEventStoreUnavailableError,
  isInvalidEventError,
  isWrongExpectedVersionError,
} from './event-store-errors.js';
export { eventPosition } from './validation.js';
export { OUTCOME_GROUP_KEYS, aggregateOutcomes } from './outcome-query.js';
export type { OutcomeGroupKey, OutcomeQueries, OutcomeQuery, OutcomeStats } from './outcome-query.js';
export { createInMemoryEventStore } from './in-memory-event-store.js';
export type { InMemoryEventStore, InMemoryEventStoreOptions } from './in-memory-event-store.js';
