export { NatsBus } from './nats-bus.js';
export type { NatsBusConnection, NatsBusOptions } from './nats-bus.js';
