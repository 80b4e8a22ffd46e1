import { AsyncLocalStorage } from 'node:async_hooks';
import { backoffDelay, sleep } from '@buckley/utils';
import type { EventHandler, StoredEvent, Subscription } from './event-store.js';

/** Delay before a failed fetch is tried again: 100 ms after the first failure, doubling to 2 s, with jitter. */
const FETCH_BACKOFF = { baseDelayMs: 50, maxDelayMs: 2000 } as const;

/**
 * A wake-up signal with a generation counter: a waiter that passes the generation it saw
 * before reading returns at once when anything changed since, so a change that lands between
 * "read found nothing" and "start waiting" is never missed.
 */
export class ChangeNotifier {
  #generation = 0;
  #waiters = new Set<() => void>();

  /** Increases on every {@link notify}. */
  get generation(): number {
    return this.#generation;
  }

  /** Wakes every waiter. */
  notify(): void {
    this.#generation++;
    for (const wake of this.#waiters) wake();
  }

  /**
   * Resolves when the generation differs from `seen`, after `timeoutMs`, or when `signal`
   * aborts (it never rejects: the caller checks its own state afterwards).
   */
  wait(seen: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.#generation !== seen || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** Where a pull subscription gets its events. */
export interface PullSource {
  /**
   * Events after `cursor` (exclusive; `undefined` = from the beginning), in delivery order,
   * at most `limit`. May reject (a dropped connection); the subscription retries from the
   * same cursor, so nothing is skipped or repeated.
   */
  fetch(cursor: string | undefined, limit: number, signal: AbortSignal): Promise<StoredEvent[]>;
  /** The cursor that follows `event` (its position, or its version for stream subscriptions). */
  cursorOf(event: StoredEvent): string;
  /** Wakes the subscription when new events may exist. */
  readonly notifier: ChangeNotifier;
}

/** Options of {@link createPullSubscription}. */
export interface PullSubscriptionOptions {
  readonly source: PullSource;
  /** Deliver events after this cursor; `undefined` = from the beginning. */
  readonly cursor: string | undefined;
  readonly handler?: EventHandler | undefined;
  readonly onError?: ((error: unknown, event?: StoredEvent) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Events read per fetch; default 256. */
  readonly pageSize?: number;
  /**
   * Longest wait without a wake-up before reading again, in milliseconds (default 1000). This
   * catches events that became readable without a notification, e.g. when Postgres' snapshot
   * horizon moved because an unrelated transaction ended.
   */
  readonly pollMs?: number;
  /** Called once when the subscription ends, so the store can forget it. */
  readonly onClose?: (() => void) | undefined;
}

const handlerScope = new AsyncLocalStorage<PullSubscription>();

/**
 * The one subscription loop every adapter shares: it pages through the source from its own
 * cursor (catch-up), then waits for wake-ups and pages again (live). Because catch-up and live
 * are the same read from the same cursor, there is no seam where an event could be skipped or
 * delivered twice, and each subscription moves at its consumer's pace.
 */
export function createPullSubscription(options: PullSubscriptionOptions): Subscription {
  return new PullSubscription(options);
}

class PullSubscription implements Subscription {
  readonly #source: PullSource;
  readonly #handler: EventHandler | undefined;
  readonly #onError: (error: unknown, event?: StoredEvent) => void;
  readonly #pageSize: number;
  readonly #pollMs: number;
  readonly #onClose: (() => void) | undefined;
  readonly #stop = new AbortController();
  readonly #stopped: Promise<undefined>;
  readonly #callerSignal: AbortSignal | undefined;
  #resolveStopped!: (value: undefined) => void;
  #cursor: string | undefined;
  #buffer: StoredEvent[] = [];
  #closed = false;
  #lastDelivered: string | undefined;
  #loop: Promise<void> | undefined;
  #iterating = false;

  constructor(options: PullSubscriptionOptions) {
    this.#source = options.source;
    this.#cursor = options.cursor;
    this.#handler = options.handler;
    const onError = options.onError;
    this.#onError = (error, event) => {
      try {
        onError?.(error, event);
      } catch {
        // An error reporter that throws must not end delivery.
      }
    };
    this.#pageSize = options.pageSize ?? 256;
    this.#pollMs = options.pollMs ?? 1000;
    this.#onClose = options.onClose;
    this.#stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
    this.#callerSignal = options.signal;
    if (options.signal?.aborted) this.#markClosed();
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (this.#handler && !this.#closed) this.#loop = this.#runHandler(this.#handler);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get lastDelivered(): string | undefined {
    return this.#lastDelivered;
  }

  readonly #onAbort = () => {
    void this.unsubscribe();
  };

  async unsubscribe(): Promise<void> {
    this.#markClosed();
    // From inside our own handler, waiting for the loop would wait for ourselves.
    if (this.#loop && handlerScope.getStore() !== this) await this.#loop;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.unsubscribe();
  }

  [Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
    if (this.#handler) throw new TypeError('a subscription with a handler cannot also be iterated');
    if (this.#iterating) throw new TypeError('a subscription can be iterated only once');
    this.#iterating = true;
    return {
      next: async () => {
        const event = await this.#next();
        if (event === undefined) return { done: true, value: undefined };
        this.#lastDelivered = this.#source.cursorOf(event);
        return { done: false, value: event };
      },
      return: async () => {
        await this.unsubscribe();
        return { done: true, value: undefined };
      },
    };
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer = [];
    this.#callerSignal?.removeEventListener('abort', this.#onAbort);
    this.#stop.abort();
    this.#resolveStopped(undefined);
    this.#onClose?.();
  }

  async #runHandler(handler: EventHandler): Promise<void> {
    // Start on a later tick so the subscription object is returned before the first call.
    await Promise.resolve();
    for (;;) {
      const event = await this.#next();
      if (event === undefined) return;
      try {
        await handlerScope.run(this, () => handler(event));
      } catch (error) {
        this.#onError(error, event);
      }
      this.#lastDelivered = this.#source.cursorOf(event);
    }
  }

  /** The next event to deliver, or `undefined` once closed. Never rejects. */
  async #next(): Promise<StoredEvent | undefined> {
    let failures = 0;
    while (!this.#closed) {
      const buffered = this.#buffer.shift();
      if (buffered !== undefined) return buffered;
      const seen = this.#source.notifier.generation;
      let page: StoredEvent[] | undefined;
      try {
        page = await Promise.race([this.#source.fetch(this.#cursor, this.#pageSize, this.#stop.signal), this.#stopped]);
        failures = 0;
      } catch (error) {
        if (this.#closed) return undefined;
        this.#onError(error);
        failures++;
        await sleep(backoffDelay(failures + 1, FETCH_BACKOFF, Math.random()), { signal: this.#stop.signal }).catch(() => undefined);
        continue;
      }
      if (this.#closed || page === undefined) return undefined;
      if (page.length > 0) {
        this.#cursor = this.#source.cursorOf(page.at(-1)!);
        this.#buffer = page;
        continue;
      }
      await this.#source.notifier.wait(seen, this.#pollMs, this.#stop.signal);
    }
    return undefined;
  }
}
