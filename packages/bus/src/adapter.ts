/**
 * What a `Bus` adapter is built from (`@buckley/nats` uses it): per-subscription serial
 * delivery with a pending limit and slow-consumer reporting, and the header and payload checks
 * every adapter applies before sending. Applications use the main entry; this one may change in
 * any minor release.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_PENDING, SerialDispatcher, warnBusError } from '@buckley/bus/adapter';
 *
 * const dispatcher = new SerialDispatcher('jobs.>', handler, onError ?? warnBusError, DEFAULT_MAX_PENDING);
 * transport.onMessage((message) => dispatcher.push(message));
 * ```
 */
export { DEFAULT_MAX_PENDING, SerialDispatcher, warnBusError } from './bus-dispatch.js';
export { assertHeaders, toBytes } from './bus.js';
