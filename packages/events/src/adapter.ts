/**
 * What an `EventStore` adapter is built from (`@buckley/postgres` uses it): the one
 * implementation of input validation, option resolution and the pull-based subscription loop,
 * so every adapter accepts and refuses exactly the same input and delivers catch-up then live
 * the same way. Applications use the main entry; this one may change in any minor release.
 *
 * @example
 * ```ts
 * import { prepareAppends, resolveStoreOptions } from '@buckley/events/adapter';
 *
 * const options = resolveStoreOptions({ partition: 'tenant-a' });
 * // Throws InvalidEventError (and writes nothing) before the adapter touches its database.
 * const [prepared] = prepareAppends([{ streamId: 'session:1', events: [{ type: 'session.started', data: {} }] }], options);
 * ```
 */
export {
  assertOptionKeys,
  assertStreamId,
  jsonProblem,
  normalizeFilter,
  parseCursor,
  prepareAppends,
  prepareSnapshot,
  resolveReadAllOptions,
  resolveReadOptions,
  resolveStoreOptions,
  resolveSubscribeFrom,
} from './validation.js';
export type {
  NormalizedFilter,
  ParsedCursor,
  PreparedAppend,
  PreparedEvent,
  ResolvedReadAllOptions,
  ResolvedReadOptions,
  ResolvedStoreOptions,
  ResolvedSubscribeFrom,
} from './validation.js';
export { ChangeNotifier, createPullSubscription } from './subscription.js';
export { compareGroups, percentileCont, resolveOutcomeQuery, roundCost } from './outcome-query.js';
export type { ResolvedOutcomeQuery } from './outcome-query.js';
export type { PullSource, PullSubscriptionOptions } from './subscription.js';
