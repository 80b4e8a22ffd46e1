import { InvalidHeaderError, InvalidMessageError } from './bus-errors.js';

/**
 * The `Bus` port: subject-based publish/subscribe, queue groups and request/reply with NATS
 * semantics (ARCHITECTURE §1: NATS is the transport, not a store). Adapters: `createInMemoryBus()`
 * here (one process), `createNatsBus()` in `@buckley/nats`. Both pass `describeBusConformance` from
 * `@buckley/testing`.
 *
 * Delivery is at most once: a message published while nobody listens is gone. Anything that
 * must survive goes to the event store first.
 */

/** Message headers: one string value per name. Names are case-sensitive ASCII without `:`. */
export type BusHeaders = Readonly<Record<string, string>>;

/** A message body: bytes, or a string sent as UTF-8. */
export type BusPayload = Uint8Array | string;

/** A delivered message. */
export interface BusMessage {
  /** The concrete subject it was published on. */
  readonly subject: string;
  readonly data: Uint8Array;
  /** `{}` when the message had none. */
  readonly headers: BusHeaders;
  /** Where a reply goes when this is a request. */
  readonly reply: string | undefined;
  /** The body as UTF-8 text. */
  text(): string;
  /**
   * The body parsed as JSON.
   *
   * @throws {InvalidMessageError} when it is not UTF-8 JSON
   */
  json<T = unknown>(): T;
  /** Publishes `data` to {@link reply}; returns false (and sends nothing) when there is no reply subject. */
  respond(data?: BusPayload, options?: { readonly headers?: BusHeaders }): boolean;
}

/**
 * Handles one message. Messages of one subscription are handled one at a time in arrival
 * order: a returned promise is awaited before the next message (any other return value is
 * ignored). A throw or rejection goes to the subscription's `onError`; delivery goes on.
 */
export type BusHandler = (message: BusMessage) => unknown;

/** Options of {@link Bus.publish}. */
export interface BusPublishOptions {
  readonly headers?: BusHeaders;
  /** A reply subject for the receiver to answer on. */
  readonly reply?: string;
}

/** Options of {@link Bus.subscribe}. */
export interface BusSubscribeOptions {
  /**
   * Queue group name: of all subscriptions with the same pattern and queue, each message goes
   * to exactly one. Without a queue every subscription gets every message.
   */
  readonly queue?: string;
  /** Aborting unsubscribes. */
  readonly signal?: AbortSignal;
  /** Receives handler errors (with the message) and dropped-message reports. Defaults to the bus's `onError`. */
  readonly onError?: (error: unknown, message?: BusMessage) => void;
  /** Most messages waiting for a slow async handler before new ones are dropped (and reported); default 65,536. */
  readonly maxPending?: number;
}

/** A live subscription. */
export interface BusSubscription extends AsyncDisposable {
  /** The pattern subscribed to. */
  readonly subject: string;
  readonly queue: string | undefined;
  /** True after {@link unsubscribe}, abort or the bus's close. */
  readonly closed: boolean;
  /** Messages handed to the handler so far. */
  readonly delivered: number;
  /** Messages dropped because the handler fell more than `maxPending` behind. */
  readonly dropped: number;
  /** Stops delivery: no handler call starts after this resolves. Idempotent. */
  unsubscribe(): Promise<void>;
}

/** Options of {@link Bus.request}. */
export interface BusRequestOptions {
  /** How long to wait for the reply, in milliseconds; default 5,000. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly headers?: BusHeaders;
}

/** The default request timeout in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** NATS's default `max_payload`, which the in-memory bus uses too: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The header carrying why a message was parked on a dead-letter subject. */
export const REJECT_REASON_HEADER = 'Buckley-Reject-Reason';

/** The header carrying the subject a parked message was first published on. */
export const ORIGINAL_SUBJECT_HEADER = 'Buckley-Original-Subject';

/**
 * A subject-based message bus.
 *
 * @example
 * ```ts
 * const bus = createInMemoryBus();
 * await bus.subscribe('greet.*', (m) => m.respond(`hello ${m.subject.split('.')[1]}`));
 * const reply = await bus.request('greet.ada', '', { timeoutMs: 1_000 });
 * reply.text(); // 'hello ada'
 * ```
 */
export interface Bus extends AsyncDisposable {
  /** The largest body (plus headers) a message may have, in bytes. */
  readonly maxPayload: number;
  /**
   * Sends a message to every matching subscription (one member per queue group). Fire and
   * forget: it returns once the message is handed to the transport.
   *
   * @throws {InvalidSubjectError} for a wildcard, empty token or whitespace in `subject`
   * @throws {PayloadTooLargeError} when the message exceeds {@link maxPayload}
   * @throws {InvalidHeaderError} for a header that cannot be carried
   * @throws {ClosedError} (code `CLOSED`, from `@buckley/utils`) after close
   */
  publish(subject: string, data?: BusPayload, options?: BusPublishOptions): void;
  /**
   * Subscribes `handler` to `pattern` (`*` one token, `>` the rest). Resolves once the
   * subscription is active, so a message published afterwards from anywhere reaches it.
   */
  subscribe(pattern: string, handler: BusHandler, options?: BusSubscribeOptions): Promise<BusSubscription>;
  /**
   * Publishes a request and resolves with the first reply.
   *
   * @throws {NoRespondersError} when nobody subscribes to `subject`
   * @throws {BusTimeoutError} when no reply came within `timeoutMs`
   * @throws {AbortedError} (from `@buckley/utils`) when `signal` aborts first
   */
  request(subject: string, data?: BusPayload, options?: BusRequestOptions): Promise<BusMessage>;
  /** Resolves when everything published so far has reached the transport (a server round trip for NATS). */
  flush(): Promise<void>;
  /** Ends every subscription and fails later calls with `ClosedError` (code `CLOSED`). Idempotent. Does not close a caller-owned connection. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** A payload as bytes (strings as UTF-8). */
export function toBytes(data: BusPayload | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return typeof data === 'string' ? encoder.encode(data) : data;
}

/** The body of a message on `subject` as UTF-8 text. @throws {InvalidMessageError} when it is not UTF-8 */
export function decodeText(subject: string, data: Uint8Array): string {
  try {
    return strictDecoder.decode(data);
  } catch (error) {
    throw new InvalidMessageError(subject, 'body is not UTF-8', data, { cause: error });
  }
}

/** The body of a message on `subject` parsed as JSON. @throws {InvalidMessageError} when it is not UTF-8 JSON */
export function decodeJson<T = unknown>(subject: string, data: Uint8Array): T {
  const text = decodeText(subject, data);
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new InvalidMessageError(subject, `body is not JSON: ${(error as Error).message}`, data, { cause: error });
  }
}

/** `value` as UTF-8 JSON bytes. @throws {InvalidMessageError} when it cannot be serialised (cycle, BigInt, undefined) */
export function encodeJson(subject: string, value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InvalidMessageError(subject, `value is not serialisable as JSON: ${(error as Error).message}`, new Uint8Array(0), {
      cause: error,
    });
  }
  if (text === undefined) {
    throw new InvalidMessageError(subject, `value ${String(value)} is not serialisable as JSON`, new Uint8Array(0));
  }
  return encoder.encode(text);
}

const HEADER_NAME = /^[!-9;-~]+$/;

/**
 * Checks headers against what the NATS protocol can carry and returns their encoded size
 * estimate in bytes (used against `maxPayload`).
 *
 * @throws {InvalidHeaderError}
 */
export function assertHeaders(headers: BusHeaders | undefined): number {
  if (headers === undefined) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) {
      throw new InvalidHeaderError(name, `header name ${JSON.stringify(name)} must be printable ASCII without ":" or spaces`);
    }
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw new InvalidHeaderError(name, `header ${JSON.stringify(name)} value ${JSON.stringify(value)} must be a string without CR or LF`);
    }
    size += name.length + 2 + Buffer.byteLength(value) + 2;
  }
  return size === 0 ? 0 : size + 12;
}

/** Options of {@link subscribeJson}. */
export interface SubscribeJsonOptions extends BusSubscribeOptions {
  /**
   * Checks a decoded body; return a reason string to reject it, or `undefined` to accept.
   * Without it every JSON value is accepted as `T`.
   */
  readonly validate?: (value: unknown) => string | undefined;
  /**
   * A subject to park rejected messages on, with headers {@link REJECT_REASON_HEADER} and
   * {@link ORIGINAL_SUBJECT_HEADER}. Without it, a rejected message is reported to
   * `onInvalid` (or `onError`) and dropped.
   */
  readonly deadLetterSubject?: string;
  /** Called with each rejected message's {@link InvalidMessageError}. */
  readonly onInvalid?: (error: InvalidMessageError, message: BusMessage) => void;
}

/**
 * Subscribes to a typed subject whose bodies are JSON. A body that is not UTF-8 JSON, or that
 * `validate` rejects, never reaches `handler`: it is parked on `deadLetterSubject` (if given)
 * and reported with its reason, once. Core pub/sub never redelivers, so it cannot loop.
 *
 * @example
 * ```ts
 * await subscribeJson<{ n: number }>(bus, 'jobs.created', (job) => console.log(job.n), {
 *   validate: (v) => (typeof (v as { n?: unknown }).n === 'number' ? undefined : 'n must be a number'),
 * });
 * ```
 */
export function subscribeJson<T>(
  bus: Bus,
  pattern: string,
  handler: (value: T, message: BusMessage) => unknown,
  options: SubscribeJsonOptions = {},
): Promise<BusSubscription> {
  const { validate, deadLetterSubject, onInvalid, ...subscribeOptions } = options;
  return bus.subscribe(
    pattern,
    (message) => {
      let value: T;
      try {
        value = message.json<T>();
        const problem = validate?.(value);
        if (problem !== undefined) throw new InvalidMessageError(message.subject, problem, message.data);
      } catch (error) {
        if (!(error instanceof InvalidMessageError)) throw error;
        if (deadLetterSubject !== undefined) {
          bus.publish(deadLetterSubject, message.data, {
            headers: { ...message.headers, [REJECT_REASON_HEADER]: oneLine(error.reason), [ORIGINAL_SUBJECT_HEADER]: message.subject },
          });
        }
        if (onInvalid) onInvalid(error, message);
        else if (subscribeOptions.onError) subscribeOptions.onError(error, message);
        else if (deadLetterSubject === undefined) throw error;
        return;
      }
      return handler(value, message);
    },
    subscribeOptions,
  );
}

/** Publishes `value` as JSON. @throws {InvalidMessageError} when it cannot be serialised; nothing is sent */
export function publishJson(bus: Bus, subject: string, value: unknown, options?: BusPublishOptions): void {
  bus.publish(subject, encodeJson(subject, value), options);
}

/** Sends `value` as a JSON request and parses the reply as JSON (`InvalidMessageError` when it is not). */
export async function requestJson<R = unknown>(bus: Bus, subject: string, value: unknown, options?: BusRequestOptions): Promise<R> {
  const reply = await bus.request(subject, encodeJson(subject, value), options);
  return reply.json<R>();
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
