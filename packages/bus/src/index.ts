export {
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
export { createInMemoryBus } from './in-memory-bus.js';
export type { InMemoryBus, InMemoryBusOptions } from './in-memory-bus.js';
export { agentInboxSubject, assertSubject, buildSubject, decodeSubjectToken, encodeSubjectToken, isConcreteSubject, subjectMatches } from './subject.js';
export type { SubjectKind } from './subject.js';
