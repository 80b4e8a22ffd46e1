import { EventHeader, InMemoryCheckpointStore, createEventDeduper, createOutboxRelay, eventSubject } from '@buckley/coordination';
import { type StoredEvent, createInMemoryEventStore } from '@buckley/events';
import { randomSuffix } from '@buckley/testing';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createNatsEventPublisher, ensureEventStream } from './index.js';
import { connectTest } from './test-env.js';
import { type PrivateNatsServer, startPrivateNatsServer } from './test-server.js';

const connections: NatsConnection[] = [];
const servers: PrivateNatsServer[] = [];
afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  for (const server of servers) await server.stop();
});

const ev = (n: number) => ({ type: 'test.happened', data: { n } });

describe('outbox relay to JetStream', () => {
  it('publishes in log order with Nats-Msg-Id and the Buckley headers; re-sent events are dropped by the server', async () => {
    const nc = await connectTest('relay.int.test');
    connections.push(nc);
    const prefix = `t_${randomSuffix()}.events`;
    const streamName = `T_RELAY_${randomSuffix().toUpperCase()}`;
    await ensureEventStream(nc, { name: streamName, subjectPrefix: prefix });
    const jsm = await jetstreamManager(nc);
    try {
      await using store = createInMemoryEventStore();
      await store.append('session:a.b', [ev(1), ev(2)]);
      await store.append('task:x', [ev(3)]);
      const publisher = createNatsEventPublisher({ connection: nc, subjectPrefix: prefix });
      const relay = await createOutboxRelay({ store, publisher, checkpoints: new InMemoryCheckpointStore() });
      await relay.drain({ timeoutMs: 10_000 });
      await relay.close();
      // A relay that lost its checkpoint re-sends everything: JetStream keeps one copy each.
      const again = await createOutboxRelay({ store, publisher, checkpoints: new InMemoryCheckpointStore() });
      await again.drain({ timeoutMs: 10_000 });
      await again.close();
      expect((await jsm.streams.info(streamName)).state.messages).toBe(3);
      const log = await store.readAll();
      const first = await jsm.streams.getMessage(streamName, { seq: 1 });
      expect(first!.subject).toBe(eventSubject('session:a.b', prefix));
      expect(first!.header.get(EventHeader.MsgId)).toBe(log[0]!.id);
      expect(first!.header.get(EventHeader.StreamId)).toBe('session:a.b');
      expect(first!.header.get(EventHeader.Version)).toBe('1');
      expect(first!.header.get(EventHeader.Position)).toBe(log[0]!.position);
      const third = await jsm.streams.getMessage(streamName, { seq: 3 });
      expect(third!.json<StoredEvent>()).toEqual(log[2]);
    } finally {
      await jsm.streams.delete(streamName);
    }
  });

  it('a NATS restart in the middle of publishing: the relay catches up and a subscriber ends with every event exactly once after dedupe', async () => {
    const server = await startPrivateNatsServer();
    servers.push(server);
    const { url } = server;
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50, name: 'relay' });
    const sub = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50, name: 'subscriber' });
    connections.push(nc, sub);
    await ensureEventStream(nc, { name: 'EVENTS', subjectPrefix: 'buckley.events' });

    await using store = createInMemoryEventStore();
    const total = 3_000;
    for (let i = 0; i < total; i += 100)
      await store.append(
        `session:${i % 7}`,
        Array.from({ length: 100 }, (_, j) => ev(i + j)),
      );
    const errors: unknown[] = [];
    const relay = await createOutboxRelay({
      store,
      publisher: createNatsEventPublisher({ connection: nc, ackTimeoutMs: 1_000 }),
      checkpoints: new InMemoryCheckpointStore(),
      batchSize: 50,
      retryDelayMs: 50,
      maxRetryDelayMs: 500,
      onError: (e) => errors.push(e),
    });
    try {
      const deadline = Date.now() + 20_000;
      while (relay.published < 600 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(relay.published).toBeGreaterThanOrEqual(600);
      expect(relay.published).toBeLessThan(total);
      await server.restart({ downMs: 300 });
      await relay.drain({ timeoutMs: 30_000 });
      expect(errors.length).toBeGreaterThan(0);

      const dedupe = createEventDeduper();
      const received: string[] = [];
      let duplicates = 0;
      const consumer = await jetstream(sub).consumers.get('EVENTS');
      const messages = await consumer.consume();
      const done = (async () => {
        for await (const m of messages) {
          const id = m.headers!.get(EventHeader.MsgId);
          if (dedupe.firstSeen(id)) received.push(id);
          else duplicates++;
          if (received.length === total) break;
        }
      })();
      await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${received.length} of ${total} events arrived`)), 20_000))]);
      await messages.close();
      expect(received).toEqual((await store.readAll({ limit: total })).map((e) => e.id));
    } finally {
      await relay.close();
      await server.stop();
    }
  }, 90_000);
});
