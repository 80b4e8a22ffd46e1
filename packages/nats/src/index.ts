export { createNatsBus } from './nats-bus.js';
export type { NatsBusConnection, NatsBusOptions } from './nats-bus.js';
export { DEFAULT_AGENT_BUCKET, createNatsAgentRegistry, natsAgentStorage, openNatsAgentStorage } from './nats-agent-registry.js';
export type { NatsAgentRegistryOptions, NatsAgentStorageOptions } from './nats-agent-registry.js';
export { MSG_ID_HEADER, consumeDurable, isTransientNatsError, publishDurable } from './durable.js';
export type { ConsumeDurableOptions, DurableConsumer, DurableMessage, PublishDurableOptions } from './durable.js';
export { createNatsEventPublisher, ensureEventStream } from './nats-event-publisher.js';
export type { EnsureEventStreamOptions, NatsEventPublisherOptions } from './nats-event-publisher.js';
