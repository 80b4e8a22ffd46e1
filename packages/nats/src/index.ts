export { NatsBus } from './nats-bus.js';
export type { NatsBusConnection, NatsBusOptions } from './nats-bus.js';
export { DEFAULT_AGENT_BUCKET, createNatsAgentRegistry, natsAgentStorage, openNatsAgentStorage } from './nats-agent-registry.js';
export type { NatsAgentRegistryOptions, NatsAgentStorageOptions } from './nats-agent-registry.js';
