import { type RetryOptions, retry } from '@buckley/utils';
import { type JetStreamClient, JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { type MsgHdrs, errors, headers as natsHeaders } from '@nats-io/transport-node';

/**
 * At-least-once transport over JetStream for messages that must survive a NATS restart or a
 * dropped connection, with exactly-once effect for consumers that dedupe by message id:
 *
 * - {@link publishDurable} publishes with `Nats-Msg-Id` = the message id and retries a
 *   publish whose ack did not arrive. The stream drops a retry whose id it already stored
 *   (within its `duplicate_window`), so a publish that reached the server before the failure
 *   is not stored twice.
 * - {@link consumeDurable} reads the stream with an ordered consumer, which the client
 *   recreates at the next sequence after a reconnect, and drops any message whose id it has
 *   already delivered (a bounded set), so a handler sees each id once.
 */

/** The header JetStream dedupes on. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** Options of {@link publishDurable}. */
export interface PublishDurableOptions {
  /** The message id (an event id); the stream dedupes on it. */
  readonly msgId: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Milliseconds to wait for each ack; default 2,000. */
  readonly timeoutMs?: number;
  /** Backoff of the retries; default 30 retries, 50 ms to 1 s, all transient NATS errors retried. */
  readonly retry?: RetryOptions;
}

/**
 * True for NATS failures that a retry can get past: a request timeout, a connection that is
 * reconnecting, and JetStream not answering yet after a server restart (no responders).
 */
export function isTransientNatsError(error: unknown): boolean {
  if (error instanceof errors.TimeoutError) return true;
  if (error instanceof errors.RequestError) return true;
  if (error instanceof errors.NoRespondersError) return true;
  if (error instanceof errors.ConnectionError) return true;
  if (error instanceof JetStreamApiError) return error.status === 503;
  if (error instanceof Error && error.cause !== undefined) return isTransientNatsError(error.cause);
  return false;
}

/**
 * Publishes `data` to a JetStream subject with `Nats-Msg-Id` = `msgId`, retrying transient
 * failures until the stream acknowledges it. Resolves with the ack (`duplicate: true` when
 * an earlier attempt had already been stored).
 */
export async function publishDurable(js: JetStreamClient, subject: string, data: Uint8Array | string, options: PublishDurableOptions): Promise<PubAck> {
  const { msgId, timeoutMs = 2_000 } = options;
  let hdrs: MsgHdrs | undefined;
  if (options.headers !== undefined) {
    hdrs = natsHeaders();
    for (const [k, v] of Object.entries(options.headers)) hdrs.set(k, v);
  }
  return retry(() => js.publish(subject, data, { msgID: msgId, timeout: timeoutMs, ...(hdrs === undefined ? {} : { headers: hdrs }) }), {
    maxRetries: 30,
    baseDelayMs: 50,
    maxDelayMs: 1_000,
    shouldRetry: isTransientNatsError,
    ...options.retry,
  });
}

/** A message delivered by {@link consumeDurable}. */
export interface DurableMessage {
  readonly subject: string;
  /** Its `Nats-Msg-Id`. */
  readonly id: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** The stream sequence. */
  readonly seq: number;
}

/** Options of {@link consumeDurable}. */
export interface ConsumeDurableOptions {
  /** Only these subjects of the stream. */
  readonly filterSubjects?: string | string[];
  /** How many delivered ids to remember for dedupe; default 100,000. */
  readonly dedupeWindow?: number;
  /** Handler errors (with the message); delivery goes on. */
  readonly onError?: (error: unknown, message: DurableMessage) => void;
  /**
   * Called for a message without a `Nats-Msg-Id`: it cannot be deduped, so it is skipped
   * and reported rather than delivered.
   */
  readonly onRejected?: (reason: string, message: Omit<DurableMessage, 'id'>) => void;
}

/** A running {@link consumeDurable}. */
export interface DurableConsumer extends AsyncDisposable {
  /** Messages handed to the handler (each id once). */
  readonly delivered: number;
  /** Redeliveries dropped because their id was already delivered. */
  readonly duplicates: number;
  /** Stops consuming and waits for the handler call under way. Idempotent. */
  close(): Promise<void>;
}

/**
 * Reads `stream` from its start with an ordered consumer and calls `handler` once per
 * message id, in stream order, awaiting each call.
 */
export async function consumeDurable(
  js: JetStreamClient,
  stream: string,
  handler: (message: DurableMessage) => void | Promise<void>,
  options: ConsumeDurableOptions = {},
): Promise<DurableConsumer> {
  const { dedupeWindow = 100_000, onError, onRejected } = options;
  const consumer = await js.consumers.get(stream, options.filterSubjects === undefined ? {} : { filter_subjects: options.filterSubjects });
  // Short pulls: after the client recreates the ordered consumer (server restart) it can
  // keep counting the old pull's messages as pending and stall until that pull expires, so
  // pulls must expire quickly for delivery to resume quickly.
  const messages = await consumer.consume({ max_messages: 256, expires: 1_000 });
  const seen = new Set<string>();
  let delivered = 0;
  let duplicates = 0;
  const loop = (async () => {
    for await (const m of messages) {
      const hdrs: Record<string, string> = {};
      for (const [k, vs] of m.headers ?? []) if (vs.length > 0) hdrs[k] = vs.at(-1)!;
      const id = hdrs[MSG_ID_HEADER];
      const base = { subject: m.subject, data: m.data, headers: hdrs, seq: m.seq };
      if (id === undefined) {
        onRejected?.(`message ${m.seq} on ${JSON.stringify(m.subject)} has no ${MSG_ID_HEADER}`, base);
        continue;
      }
      if (seen.has(id)) {
        duplicates++;
        continue;
      }
      seen.add(id);
      if (seen.size > dedupeWindow) seen.delete(seen.values().next().value!);
      delivered++;
      try {
        await handler({ ...base, id });
      } catch (error) {
        onError?.(error, { ...base, id });
      }
    }
  })();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await messages.close();
      await loop;
    })());
  return {
    get delivered() {
      return delivered;
    },
    get duplicates() {
      return duplicates;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
