import { EVENT_SUBJECT_PREFIX, type EventPublisher, eventHeaders, eventSubject } from '@buckley/coordination';
import { throwIfAborted } from '@buckley/utils';
import { type JetStreamClient, type JetStreamManager, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';

/** Options of {@link createNatsEventPublisher}. */
export interface NatsEventPublisherOptions {
  /** The caller's connection (never closed by the publisher). */
  readonly connection: NatsConnection;
  /** Default `buckley.events`; a JetStream stream must capture `<prefix>.>` (see {@link ensureEventStream}). */
  readonly subjectPrefix?: string;
  /** How long to wait for each acknowledgement, in milliseconds; default 5,000. */
  readonly ackTimeoutMs?: number;
}

/**
 * The outbox relay's {@link EventPublisher} for NATS: each event is published to JetStream on
 * `<prefix>.<encoded stream id>` with `Nats-Msg-Id` = event id (so the server drops re-sends
 * inside the stream's duplicate window) and the Buckley headers. A batch is pipelined and
 * resolves once every message is acknowledged; any failure rejects it, and the relay re-sends
 * the whole batch.
 */
export function createNatsEventPublisher(options: NatsEventPublisherOptions): EventPublisher {
  const prefix = options.subjectPrefix ?? EVENT_SUBJECT_PREFIX;
  const timeout = options.ackTimeoutMs ?? 5_000;
  const js: JetStreamClient = jetstream(options.connection);
  return {
    async publish(events, signal) {
      throwIfAborted(signal);
      const acks = events.map((event) => {
        const h = natsHeaders();
        for (const [name, value] of Object.entries(eventHeaders(event))) h.set(name, value);
        return js.publish(eventSubject(event.streamId, prefix), JSON.stringify(event), { msgID: event.id, headers: h, timeout });
      });
      const results = await Promise.allSettled(acks);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
  };
}

/** Options of {@link ensureEventStream}. */
export interface EnsureEventStreamOptions {
  /** JetStream stream name; default `BUCKLEY_EVENTS`. */
  readonly name?: string;
  /** Default `buckley.events`; the stream captures `<prefix>.>`. */
  readonly subjectPrefix?: string;
  /** Window in which a repeated `Nats-Msg-Id` is dropped, in milliseconds; default 2 minutes. Keep it above the relay's retry horizon. */
  readonly duplicateWindowMs?: number;
  /** Drop events older than this, in milliseconds; default 0 (keep). NATS is transport: Postgres keeps the history. */
  readonly maxAgeMs?: number;
}

/**
 * Creates the JetStream stream that stores the live event stream, or leaves an existing one as
 * it is. File storage, one replica, limits retention.
 */
export async function ensureEventStream(connection: NatsConnection, options: EnsureEventStreamOptions = {}): Promise<void> {
  const name = options.name ?? 'BUCKLEY_EVENTS';
  const prefix = options.subjectPrefix ?? EVENT_SUBJECT_PREFIX;
  const jsm: JetStreamManager = await jetstreamManager(connection);
  try {
    await jsm.streams.info(name);
    return;
  } catch {
    // Not found: create it below.
  }
  await jsm.streams.add({
    name,
    subjects: [`${prefix}.>`],
    storage: StorageType.File,
    num_replicas: 1,
    duplicate_window: (options.duplicateWindowMs ?? 120_000) * 1_000_000,
    max_age: (options.maxAgeMs ?? 0) * 1_000_000,
  });
}
