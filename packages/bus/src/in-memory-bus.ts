import { type Clock, ClosedError, abortError, systemClock, uuidv7 } from '@buckley/utils';
import { DEFAULT_MAX_PENDING, SerialDispatcher, warnBusError } from './bus-dispatch.js';
import { BusTimeoutError, NoRespondersError, PayloadTooLargeError } from './bus-errors.js';
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
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_REQUEST_TIMEOUT_MS,
  assertHeaders,
  decodeJson,
  decodeText,
  toBytes,
} from './bus.js';
import { assertSubject, subjectMatches } from './subject.js';

/** Options of {@link createInMemoryBus}. */
export interface InMemoryBusOptions {
  /** Largest message in bytes; default 1 MiB like nats-server. */
  readonly maxPayload?: number;
  /** Time source of request timeouts. */
  readonly clock?: Clock;
  /** Where handler errors go when a subscription has no `onError`; default a process warning. */
  readonly onError?: (error: unknown, message?: BusMessage) => void;
}

interface Router {
  readonly subs: Set<MemorySub>;
  readonly rotation: Map<string, number>;
}

interface MemorySub {
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly dispatcher: SerialDispatcher;
}

/**
 * The in-process {@link Bus}: the embedded default (ARCHITECTURE §1). Same subject rules,
 * queue groups (round robin among members), request/reply and errors as `NatsBus`; messages
 * are delivered on a microtask, never inside `publish`. {@link InMemoryBus.connect} gives a
 * second bus on the same in-process "server", the way a second NATS connection would.
 */
/** The in-process {@link Bus}, with {@link InMemoryBus.connect} for a second connection to the same in-process "server". */
export interface InMemoryBus extends Bus {
  /**
   * A new bus that shares this one's subscriptions (messages flow between them) but closes on
   * its own, like a second connection to the same server.
   */
  connect(options?: InMemoryBusOptions): InMemoryBus;
}

/**
 * A new in-process bus: the embedded default (ARCHITECTURE §1). Same subject rules, queue
 * groups (round robin among members), request/reply and errors as the NATS bus; messages are
 * delivered on a microtask, never inside `publish`.
 *
 * @example
 * ```ts
 * const server = createInMemoryBus();
 * const bus = server.connect();
 * await bus.subscribe('greet.*', (m) => m.respond('hi'));
 * (await server.request('greet.ada')).text(); // 'hi'
 * ```
 */
export function createInMemoryBus(options: InMemoryBusOptions = {}): InMemoryBus {
  return new MemoryBus(options);
}

class MemoryBus implements InMemoryBus {
  readonly maxPayload: number;
  readonly #clock: Clock;
  readonly #onError: (error: unknown, message?: BusMessage) => void;
  readonly #router: Router;
  readonly #own = new Set<MemorySub>();
  readonly #options: InMemoryBusOptions;
  #closed = false;

  constructor(options: InMemoryBusOptions = {}) {
    this.#options = options;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? warnBusError;
    this.#router = (options as { router?: Router }).router ?? { subs: new Set(), rotation: new Map() };
  }

  /**
   * A new bus that shares this one's subscriptions (messages flow between them) but closes on
   * its own, like a second connection to the same server.
   */
  connect(options: InMemoryBusOptions = this.#options): InMemoryBus {
    return new MemoryBus({ ...options, router: this.#router } as InMemoryBusOptions);
  }

  publish(subject: string, data?: BusPayload, options: BusPublishOptions = {}): void {
    if (this.#closed) throw new ClosedError('bus');
    assertSubject(subject, 'publish');
    if (options.reply !== undefined) assertSubject(options.reply, 'publish');
    const headerBytes = assertHeaders(options.headers);
    const body = toBytes(data);
    if (body.byteLength + headerBytes > this.maxPayload) {
      throw new PayloadTooLargeError(subject, body.byteLength + headerBytes, this.maxPayload);
    }
    this.#deliver(subject, body.slice(), { ...options.headers }, options.reply);
  }

  async subscribe(pattern: string, handler: BusHandler, options: BusSubscribeOptions = {}): Promise<BusSubscription> {
    if (this.#closed) throw new ClosedError('bus');
    assertSubject(pattern, 'subscribe');
    if (options.queue !== undefined) assertSubject(options.queue, 'publish');
    const dispatcher = new SerialDispatcher(pattern, handler, options.onError ?? this.#onError, options.maxPending ?? DEFAULT_MAX_PENDING);
    const sub: MemorySub = { pattern, queue: options.queue, dispatcher };
    this.#router.subs.add(sub);
    this.#own.add(sub);
    const unsubscribe = async () => {
      this.#router.subs.delete(sub);
      this.#own.delete(sub);
      options.signal?.removeEventListener('abort', onAbort);
      await dispatcher.close();
    };
    const onAbort = () => void unsubscribe();
    if (options.signal?.aborted) await unsubscribe();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    return dispatcher.handle(pattern, options.queue, unsubscribe);
  }

  async request(subject: string, data?: BusPayload, options: BusRequestOptions = {}): Promise<BusMessage> {
    if (this.#closed) throw new ClosedError('bus');
    const { timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS, signal, headers } = options;
    assertSubject(subject, 'publish');
    if (signal?.aborted) throw abortError(signal);
    if (![...this.#router.subs].some((s) => subjectMatches(s.pattern, subject))) throw new NoRespondersError(subject);
    const inbox = `_INBOX.${uuidv7()}`;
    let settle!: { resolve: (m: BusMessage) => void; reject: (e: unknown) => void };
    const reply = new Promise<BusMessage>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const sub = await this.subscribe(inbox, (m) => settle.resolve(m));
    const onAbort = () => settle.reject(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    const cancelTimer = this.#clock.setTimeout(() => settle.reject(new BusTimeoutError(subject, timeoutMs)), timeoutMs);
    try {
      this.publish(subject, data, { ...(headers === undefined ? {} : { headers }), reply: inbox });
      return await reply;
    } finally {
      cancelTimer();
      signal?.removeEventListener('abort', onAbort);
      await sub.unsubscribe();
    }
  }

  async flush(): Promise<void> {
    if (this.#closed) throw new ClosedError('bus');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const subs = [...this.#own];
    this.#own.clear();
    for (const sub of subs) this.#router.subs.delete(sub);
    await Promise.all(subs.map((s) => s.dispatcher.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #deliver(subject: string, data: Uint8Array, headers: BusHeaders, reply: string | undefined): void {
    const groups = new Map<string, MemorySub[]>();
    const targets: MemorySub[] = [];
    for (const sub of this.#router.subs) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (sub.queue === undefined) targets.push(sub);
      else {
        const members = groups.get(sub.queue);
        if (members) members.push(sub);
        else groups.set(sub.queue, [sub]);
      }
    }
    for (const [queue, members] of groups) {
      const turn = this.#router.rotation.get(queue) ?? 0;
      this.#router.rotation.set(queue, turn + 1);
      targets.push(members[turn % members.length]!);
    }
    if (targets.length === 0) return;
    const message = this.#message(subject, data, headers, reply);
    queueMicrotask(() => {
      for (const target of targets) target.dispatcher.push(message);
    });
  }

  #message(subject: string, data: Uint8Array, headers: BusHeaders, reply: string | undefined): BusMessage {
    return {
      subject,
      data,
      headers,
      reply,
      text: () => decodeText(subject, data),
      json: <T>() => decodeJson<T>(subject, data),
      respond: (body?: BusPayload, options?: { readonly headers?: BusHeaders }): boolean => {
        if (reply === undefined || this.#closed) return false;
        this.publish(reply, body, options?.headers === undefined ? {} : { headers: options.headers });
        return true;
      },
    };
  }
}
