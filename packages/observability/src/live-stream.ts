import { ATTRIBUTION_KEYS, type EventFilter, type EventStore, type StoredEvent, isEventStoreError } from '@buckley/events';
import type { ObservabilityMetrics } from './metrics.js';
import { InvalidObservabilityOptionError, UnresumableCursorError } from './observability-errors.js';

const FILTER_KEYS = new Set<string>(['types', 'typePrefix', 'outcome', 'occurredFrom', 'occurredBefore', ...ATTRIBUTION_KEYS]);

/** Options of {@link openLiveStream}. */
export interface LiveStreamOptions {
  readonly store: EventStore;
  /**
   * Resume after this position (exclusive): one the stream delivered before (an SSE
   * `Last-Event-ID`) or any position the store returned. Takes precedence over `from`.
   */
  readonly after?: string;
  /** Where to start without `after`: `'end'` (only events appended from now on, the default) or `'start'`. */
  readonly from?: 'start' | 'end';
  /** The `readAll` filter: type prefixes, types, attribution fields, outcomes, a time window. */
  readonly filter?: EventFilter;
  /** Counts the stream in `buckley_live_stream_subscribers` while it is open. */
  readonly metrics?: Pick<ObservabilityMetrics, 'liveStreamSubscribers'>;
  /** Aborting closes the stream. */
  readonly signal?: AbortSignal;
}

/**
 * A live view of the event log: catch-up from its start, then every new matching event, in log
 * order, each once, over the store's gap-safe subscription (an event that commits late is
 * delivered, never skipped). Iterate it once with `for await`; breaking out closes it.
 */
export interface LiveStream extends AsyncIterable<StoredEvent>, AsyncDisposable {
  /** The position of the last event the iterator returned: the cursor to resume from. */
  readonly lastPosition: string | undefined;
  readonly closed: boolean;
  /** Ends the stream and its subscription; idempotent. The iterator then finishes. */
  close(): Promise<void>;
}

/**
 * Opens a live stream over `store`.
 *
 * @throws {UnresumableCursorError} when `after` is not a position of the store's partition
 * @throws {InvalidObservabilityOptionError} for a bad `filter` or `from`
 * @example
 * ```ts
 * await using live = await openLiveStream({ store, filter: { typePrefix: 'tool.run.', sessionId: 's1' } });
 * for await (const event of live) console.log(event.position, event.type);
 * ```
 */
export async function openLiveStream(options: LiveStreamOptions): Promise<LiveStream> {
  const { store, after, from = 'end', filter, metrics, signal } = options;
  if (typeof store?.subscribe !== 'function') throw new InvalidObservabilityOptionError('store', store, 'an EventStore');
  if (from !== 'start' && from !== 'end') throw new InvalidObservabilityOptionError('from', from, '"start" or "end"');
  let subscription;
  try {
    subscription = await store.subscribe({ from: after === undefined ? from : { after }, filter, signal });
  } catch (error) {
    if (isEventStoreError(error) && 'option' in error && typeof error.option === 'string') {
      // The store's message quotes the value (a cursor or filter from an HTTP client): only its code is passed on, and no cause.
      if (error.option.endsWith('after')) throw new UnresumableCursorError(after);
      // An unknown filter key is the key itself (`filter.<key>`): only the filter keys of the store's own are repeated.
      const key = error.option.startsWith('filter.') ? error.option.slice('filter.'.length) : undefined;
      throw new InvalidObservabilityOptionError(
        key === undefined || FILTER_KEYS.has(key) ? error.option : 'filter',
        (error as { value?: unknown }).value,
        `a value the event store accepts (it refused it with ${error.code})`,
      );
    }
    throw error;
  }
  return new StoreLiveStream(subscription, metrics, signal);
}

type StoreSubscription = Awaited<ReturnType<EventStore['subscribe']>>;

class StoreLiveStream implements LiveStream {
  readonly #subscription: StoreSubscription;
  readonly #metrics: Pick<ObservabilityMetrics, 'liveStreamSubscribers'> | undefined;
  #closed = false;
  #lastPosition: string | undefined;

  constructor(subscription: StoreSubscription, metrics: Pick<ObservabilityMetrics, 'liveStreamSubscribers'> | undefined, signal: AbortSignal | undefined) {
    this.#subscription = subscription;
    this.#metrics = metrics;
    if (subscription.closed) {
      this.#closed = true;
      return;
    }
    metrics?.liveStreamSubscribers.inc();
    signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  get lastPosition(): string | undefined {
    return this.#lastPosition;
  }

  get closed(): boolean {
    return this.#closed || this.#subscription.closed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#metrics?.liveStreamSubscribers.dec();
    await this.#subscription.unsubscribe();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
    const inner = this.#subscription[Symbol.asyncIterator]();
    return {
      next: async () => {
        const result = await inner.next();
        if (result.done) {
          await this.close();
          return result;
        }
        this.#lastPosition = result.value.position;
        return result;
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }
}
