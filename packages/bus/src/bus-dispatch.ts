import { SlowConsumerError } from './bus-errors.js';
import type { BusHandler, BusMessage, BusSubscription } from './bus.js';

/** Default bound of messages waiting for a slow async handler. */
export const DEFAULT_MAX_PENDING = 65_536;

/**
 * Calls a subscription's handler one message at a time in arrival order. A synchronous handler
 * runs inline (no promise per message, which keeps throughput near the raw client's); an async
 * one makes later messages wait in a bounded queue. Shared by the bus adapters so both behave
 * the same.
 */
export class SerialDispatcher {
  readonly #handler: BusHandler;
  readonly #onError: (error: unknown, message?: BusMessage) => void;
  readonly #maxPending: number;
  readonly #subject: string;
  #queue: BusMessage[] = [];
  #head = 0;
  #busy: Promise<void> | undefined;
  #closed = false;
  delivered = 0;
  dropped = 0;

  constructor(subject: string, handler: BusHandler, onError: (error: unknown, message?: BusMessage) => void, maxPending: number) {
    this.#subject = subject;
    this.#handler = handler;
    this.#onError = onError;
    this.#maxPending = maxPending;
  }

  get closed(): boolean {
    return this.#closed;
  }

  push(message: BusMessage): void {
    if (this.#closed) return;
    if (this.#busy !== undefined) {
      if (this.#queue.length - this.#head >= this.#maxPending) {
        this.dropped++;
        this.#report(new SlowConsumerError(this.#subject, this.dropped), message);
        return;
      }
      this.#queue.push(message);
      return;
    }
    const pending = this.#run(message);
    if (pending !== undefined) this.#busy = this.#drain(pending);
  }

  /** The caller's handle on this dispatcher's subscription, stopped by `unsubscribe`. */
  handle(subject: string, queue: string | undefined, unsubscribe: () => Promise<void>): BusSubscription {
    const closed = () => this.closed;
    const delivered = () => this.delivered;
    const dropped = () => this.dropped;
    return {
      subject,
      queue,
      get closed() {
        return closed();
      },
      get delivered() {
        return delivered();
      },
      get dropped() {
        return dropped();
      },
      unsubscribe,
      [Symbol.asyncDispose]: unsubscribe,
    };
  }

  /** Stops delivery; resolves when an in-flight handler call has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    await this.#busy;
  }

  #run(message: BusMessage): Promise<void> | undefined {
    this.delivered++;
    try {
      const result = this.#handler(message);
      if (typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function') {
        return settle(result as PromiseLike<unknown>, (error) => this.#report(error, message));
      }
    } catch (error) {
      this.#report(error, message);
    }
    return undefined;
  }

  async #drain(first: Promise<void>): Promise<void> {
    await first;
    while (!this.#closed && this.#head < this.#queue.length) {
      const next = this.#queue[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      const pending = this.#run(next);
      if (pending !== undefined) await pending;
    }
    this.#queue = [];
    this.#head = 0;
    this.#busy = undefined;
  }

  #report(error: unknown, message?: BusMessage): void {
    try {
      this.#onError(error, message);
    } catch {
      // An error reporter that throws must not stop delivery.
    }
  }
}

async function settle(pending: PromiseLike<unknown>, onError: (error: unknown) => void): Promise<void> {
  try {
    await pending;
  } catch (error) {
    onError(error);
  }
}

/** The default error sink of a bus: a process warning, so nothing fails silently. */
export function warnBusError(error: unknown, message?: BusMessage): void {
  const where = message === undefined ? '' : ` (subject ${JSON.stringify(message.subject)})`;
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  process.emitWarning(`bus handler error${where}: ${text}`, { code: 'BUCKLEY_BUS_HANDLER_ERROR' });
}
