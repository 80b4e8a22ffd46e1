import { abortError } from './abort.js';
import { ClosedError, InvalidArgumentError } from './errors.js';

/**
 * What a producer does when the queue is full:
 * - `wait`: wait until a consumer makes room (or the signal aborts);
 * - `drop_newest`: drop the item being pushed;
 * - `drop_oldest`: drop the oldest queued item to make room.
 * Every dropped item is counted in {@link BoundedQueue.dropped}.
 */
export type OverflowPolicy = 'wait' | 'drop_newest' | 'drop_oldest';

/** Options of {@link BoundedQueue}. */
export interface BoundedQueueOptions {
  /** Most items held at once; an integer >= 1. */
  readonly capacity: number;
  /** Default policy for {@link BoundedQueue.push}; `wait` unless given. */
  readonly overflow?: OverflowPolicy;
}

/** Options of one {@link BoundedQueue.push}. */
export interface PushOptions {
  /** Overrides the queue's default policy for this push. */
  readonly overflow?: OverflowPolicy;
  /** Aborts a waiting push; the item is then not enqueued. */
  readonly signal?: AbortSignal;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/**
 * A first-in first-out async queue with a fixed capacity, for handing work from fast producers
 * to slower consumers without unbounded memory. Producers choose, per push, to wait for room or
 * to drop; drops are counted. Consumers await {@link shift} or iterate with `for await`.
 *
 * After {@link close}, pushes reject with {@link ClosedError}, waiting producers are rejected,
 * and consumers drain what is left before the iteration ends.
 *
 * @example
 * ```ts
 * const queue = new BoundedQueue<string>({ capacity: 100, overflow: 'drop_oldest' });
 * await queue.push('event');
 * for await (const item of queue) handle(item);
 * ```
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  readonly capacity: number;
  readonly #overflow: OverflowPolicy;
  #items: T[] = [];
  #head = 0;
  #dropped = 0;
  #closed = false;
  #consumers: Array<Waiter<IteratorResult<T>>> = [];
  #producers: Array<{ item: T; waiter: Waiter<boolean>; cleanup: () => void }> = [];

  constructor(options: BoundedQueueOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new InvalidArgumentError(`capacity must be an integer >= 1, got ${JSON.stringify(options.capacity)}`);
    }
    this.capacity = options.capacity;
    this.#overflow = checkOverflow(options.overflow ?? 'wait');
  }

  /** Items queued now. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Items dropped so far by the drop policies. */
  get dropped(): number {
    return this.#dropped;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Enqueues `item`. Resolves `true` when it was enqueued, `false` when it was dropped
   * (`drop_newest` on a full queue). With `wait`, resolves once there is room.
   *
   * @throws {ClosedError} when the queue is closed (also for producers waiting at close)
   * @throws {AbortedError} when `signal` aborts while waiting; the item is not enqueued
   */
  push(item: T, options: PushOptions = {}): Promise<boolean> {
    if (this.#closed) return Promise.reject(new ClosedError('queue'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#deliver(item)) return Promise.resolve(true);
    if (options.overflow !== undefined) {
      try {
        checkOverflow(options.overflow);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const policy = options.overflow ?? this.#overflow;
    if (policy === 'drop_newest') {
      this.#dropped++;
      return Promise.resolve(false);
    }
    if (policy === 'drop_oldest') {
      this.#head++;
      this.#dropped++;
      this.#items.push(item);
      this.#compact();
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve, reject) => {
      const entry = {
        item,
        waiter: { resolve, reject },
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      const onAbort = () => {
        const i = this.#producers.indexOf(entry);
        if (i >= 0) this.#producers.splice(i, 1);
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#producers.push(entry);
    });
  }

  /**
   * Enqueues `item` only if there is room now; never waits and never counts a drop.
   * @returns whether the item was enqueued
   */
  tryPush(item: T): boolean {
    if (this.#closed) throw new ClosedError('queue');
    return this.#deliver(item);
  }

  /**
   * Takes the oldest item, waiting for one if the queue is empty.
   *
   * @throws {ClosedError} when the queue is closed and empty
   * @throws {AbortedError} when `signal` aborts while waiting
   */
  async shift(options: { signal?: AbortSignal } = {}): Promise<T> {
    const next = await this.#next(options.signal);
    if (next.done) throw new ClosedError('queue');
    return next.value;
  }

  /** Closes the queue: no more pushes; consumers drain what is queued, then finish. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#producers.splice(0)) {
      p.cleanup();
      p.waiter.reject(new ClosedError('queue'));
    }
    if (this.size === 0) {
      for (const c of this.#consumers.splice(0)) c.resolve({ value: undefined, done: true });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = await this.#next(undefined);
      if (next.done) return;
      yield next.value;
    }
  }

  #deliver(item: T): boolean {
    const consumer = this.#consumers.shift();
    if (consumer) {
      consumer.resolve({ value: item, done: false });
      return true;
    }
    if (this.size < this.capacity) {
      this.#items.push(item);
      return true;
    }
    return false;
  }

  #next(signal: AbortSignal | undefined): Promise<IteratorResult<T>> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.size > 0) {
      const value = this.#items[this.#head]!;
      this.#head++;
      this.#compact();
      // Room was made: admit the longest-waiting producer.
      const producer = this.#producers.shift();
      if (producer) {
        producer.cleanup();
        this.#items.push(producer.item);
        producer.waiter.resolve(true);
      }
      if (this.#closed && this.size === 0) {
        for (const c of this.#consumers.splice(0)) c.resolve({ value: undefined, done: true });
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      const waiter: Waiter<IteratorResult<T>> = {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.#consumers.indexOf(waiter);
        if (i >= 0) this.#consumers.splice(i, 1);
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#consumers.push(waiter);
    });
  }

  #compact(): void {
    // Drop consumed slots in bulk so shift stays O(1) amortised without unbounded growth.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

const OVERFLOW_POLICIES: readonly OverflowPolicy[] = ['wait', 'drop_newest', 'drop_oldest'];

function checkOverflow(policy: OverflowPolicy): OverflowPolicy {
  if (!OVERFLOW_POLICIES.includes(policy)) {
    throw new InvalidArgumentError(`overflow must be one of ${OVERFLOW_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
  }
  return policy;
}
