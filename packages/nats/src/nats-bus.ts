import {
  type Bus,
  type BusHandler,
  type BusHeaders,
  type BusMessage,
  type BusPayload,
  type BusPublishOptions,
  type BusRequestOptions,
  type BusSubscribeOptions,
  type BusSubscription,
  BusTimeoutError,
  BusUnavailableError,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_REQUEST_TIMEOUT_MS,
  NoRespondersError,
  PayloadTooLargeError,
  assertSubject,
  decodeJson,
  decodeText,
} from '@buckley/bus';
import { DEFAULT_MAX_PENDING, SerialDispatcher, assertHeaders, toBytes, warnBusError } from '@buckley/bus/adapter';
import { ClosedError, abortError } from '@buckley/utils';
import { type Msg, type MsgHdrs, type NatsConnection, errors, headers as natsHeaders } from '@nats-io/transport-node';

/** The methods of a NATS connection the bus uses; pass the `NatsConnection` you own. */
export type NatsBusConnection = Pick<NatsConnection, 'publish' | 'subscribe' | 'request' | 'flush' | 'info' | 'isClosed'>;

/** Options of {@link createNatsBus}. */
export interface NatsBusOptions {
  /** Where handler errors go when a subscription has no `onError`; default a process warning. */
  readonly onError?: (error: unknown, message?: BusMessage) => void;
}

const EMPTY_HEADERS: BusHeaders = Object.freeze({});

/**
 * The {@link Bus} over core NATS: subjects, queue groups and request/reply map one to one onto
 * the server's; the caller owns the connection (and its reconnect policy) and closes it after
 * the bus. Delivery is at most once, as with core NATS; use JetStream (or the outbox relay)
 * where a message must survive a disconnect.
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
 * const bus = createNatsBus(nc);
 * await bus.subscribe('greet.*', (m) => m.respond('hi'));
 * (await bus.request('greet.ada')).text(); // 'hi'
 * await bus.close();
 * await nc.drain();
 * ```
 */
export function createNatsBus(nc: NatsBusConnection, options: NatsBusOptions = {}): Bus {
  return new NatsBus(nc, options);
}

class NatsBus implements Bus {
  readonly #nc: NatsBusConnection;
  readonly #onError: (error: unknown, message?: BusMessage) => void;
  readonly #subs = new Set<() => Promise<void>>();
  #closed = false;

  constructor(nc: NatsBusConnection, options: NatsBusOptions = {}) {
    this.#nc = nc;
    this.#onError = options.onError ?? warnBusError;
  }

  /** The connected server's `max_payload` (1 MiB by default). */
  get maxPayload(): number {
    return this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  publish(subject: string, data?: BusPayload, options?: BusPublishOptions): void {
    this.#checkOpen();
    assertSubject(subject, 'publish');
    const body = toBytes(data);
    if (options === undefined) {
      if (body.byteLength > this.maxPayload) throw new PayloadTooLargeError(subject, body.byteLength, this.maxPayload);
      try {
        this.#nc.publish(subject, body);
      } catch (error) {
        throw this.#mapError(error, subject);
      }
      return;
    }
    if (options.reply !== undefined) assertSubject(options.reply, 'publish');
    const headerBytes = assertHeaders(options.headers);
    if (body.byteLength + headerBytes > this.maxPayload) {
      throw new PayloadTooLargeError(subject, body.byteLength + headerBytes, this.maxPayload);
    }
    try {
      if (options.headers === undefined && options.reply === undefined) this.#nc.publish(subject, body);
      else {
        this.#nc.publish(subject, body, {
          ...(options.reply === undefined ? {} : { reply: options.reply }),
          ...(options.headers === undefined ? {} : { headers: toNatsHeaders(options.headers) }),
        });
      }
    } catch (error) {
      throw this.#mapError(error, subject);
    }
  }

  async subscribe(pattern: string, handler: BusHandler, options: BusSubscribeOptions = {}): Promise<BusSubscription> {
    this.#checkOpen();
    assertSubject(pattern, 'subscribe');
    if (options.queue !== undefined) assertSubject(options.queue, 'publish');
    const onError = options.onError ?? this.#onError;
    const dispatcher = new SerialDispatcher(pattern, handler, onError, options.maxPending ?? DEFAULT_MAX_PENDING);
    let sub: ReturnType<NatsBusConnection['subscribe']>;
    try {
      sub = this.#nc.subscribe(pattern, {
        ...(options.queue === undefined ? {} : { queue: options.queue }),
        callback: (error, msg) => {
          if (error) onError(new BusUnavailableError(`subscription ${JSON.stringify(pattern)} failed: ${error.message}`, { cause: error }));
          else dispatcher.push(wrap(msg));
        },
      });
    } catch (error) {
      throw this.#mapError(error, pattern);
    }
    let done: Promise<void> | undefined;
    const unsubscribe = (): Promise<void> => {
      done ??= (async () => {
        this.#subs.delete(unsubscribe);
        options.signal?.removeEventListener('abort', onAbort);
        if (!sub.isClosed()) {
          try {
            sub.unsubscribe();
          } catch {
            // The connection is already gone; the server dropped the interest with it.
          }
        }
        await dispatcher.close();
      })();
      return done;
    };
    const onAbort = () => void unsubscribe();
    this.#subs.add(unsubscribe);
    if (options.signal?.aborted) await unsubscribe();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    // The server must have the interest before the caller publishes from another connection.
    await this.#nc.flush().catch((error: unknown) => {
      throw this.#mapError(error, pattern);
    });
    return dispatcher.handle(pattern, options.queue, unsubscribe);
  }

  async request(subject: string, data?: BusPayload, options: BusRequestOptions = {}): Promise<BusMessage> {
    this.#checkOpen();
    const { timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, signal, headers } = options;
    assertSubject(subject, 'publish');
    const headerBytes = assertHeaders(headers);
    const body = toBytes(data);
    if (body.byteLength + headerBytes > this.maxPayload) {
      throw new PayloadTooLargeError(subject, body.byteLength + headerBytes, this.maxPayload);
    }
    if (signal?.aborted) throw abortError(signal);
    const pending = this.#nc.request(subject, body, {
      timeout: timeoutMs,
      ...(headers === undefined ? {} : { headers: toNatsHeaders(headers) }),
    });
    try {
      if (signal === undefined) return wrap(await pending);
      // The client's request has no signal; on abort the muxed reply slot lapses at its timeout.
      pending.catch(() => {});
      let onAbort!: () => void;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        return wrap(await Promise.race([pending, aborted]));
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    } catch (error) {
      if (error instanceof errors.TimeoutError) throw new BusTimeoutError(subject, timeoutMs, { cause: error });
      if (error instanceof errors.RequestError && error.isNoResponders()) throw new NoRespondersError(subject, { cause: error });
      throw this.#mapError(error, subject);
    }
  }

  async flush(): Promise<void> {
    this.#checkOpen();
    try {
      await this.#nc.flush();
    } catch (error) {
      throw this.#mapError(error, '');
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subs].map((unsubscribe) => unsubscribe()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('bus');
    if (this.#nc.isClosed()) throw new ClosedError('bus connection', { cause: new errors.ClosedConnectionError() });
  }

  #mapError(error: unknown, subject: string): unknown {
    if (error instanceof errors.ClosedConnectionError || error instanceof errors.DrainingConnectionError) {
      return new ClosedError('bus connection', { cause: error });
    }
    if (error instanceof errors.InvalidArgumentError && /max_payload/.test(error.message)) {
      return new PayloadTooLargeError(subject, -1, this.maxPayload, { cause: error });
    }
    if (error instanceof Error && !('code' in error && typeof (error as { code: unknown }).code === 'string' && 'retryable' in error)) {
      return new BusUnavailableError(`nats: ${error.message}`, { cause: error });
    }
    return error;
  }
}

function toNatsHeaders(record: BusHeaders): MsgHdrs {
  const h = natsHeaders();
  for (const [name, value] of Object.entries(record)) h.set(name, value);
  return h;
}

function fromNatsHeaders(h: MsgHdrs | undefined): BusHeaders {
  if (h === undefined) return EMPTY_HEADERS;
  const out: Record<string, string> = {};
  for (const [name, values] of h) {
    const last = values.at(-1);
    if (last !== undefined) out[name] = last;
  }
  return out;
}

/** A delivered message; a class (not a closure per message) keeps the hot path cheap. */
class NatsBusMessage implements BusMessage {
  readonly #msg: Msg;
  #headers: BusHeaders | undefined;

  constructor(msg: Msg) {
    this.#msg = msg;
  }

  get subject(): string {
    return this.#msg.subject;
  }

  get data(): Uint8Array {
    return this.#msg.data;
  }

  get reply(): string | undefined {
    const reply = this.#msg.reply;
    return reply === undefined || reply === '' ? undefined : reply;
  }

  get headers(): BusHeaders {
    this.#headers ??= fromNatsHeaders(this.#msg.headers);
    return this.#headers;
  }

  text(): string {
    return decodeText(this.#msg.subject, this.#msg.data);
  }

  json<T>(): T {
    return decodeJson<T>(this.#msg.subject, this.#msg.data);
  }

  respond(body?: BusPayload, options?: { readonly headers?: BusHeaders }): boolean {
    if (this.reply === undefined) return false;
    assertHeaders(options?.headers);
    return this.#msg.respond(toBytes(body), options?.headers === undefined ? undefined : { headers: toNatsHeaders(options.headers) });
  }
}

function wrap(msg: Msg): BusMessage {
  return new NatsBusMessage(msg);
}
