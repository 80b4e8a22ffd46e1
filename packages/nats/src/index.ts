export { NatsBus } from './nats-bus.js';
export type { NatsBusConnection, NatsBusOptions } from './nats-bus.js';
export { createNatsEventPublisher, ensureEventStream } from './nats-event-publisher.js';
export type { EnsureEventStreamOptions, NatsEventPublisherOptions } from './nats-event-publisher.js';
