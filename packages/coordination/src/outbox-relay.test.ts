import { describe, expect, it } from 'vitest';
import type { BusMessage } from '@buckley/bus';
import type { StoredEvent } from '@buckley/events';
import { createInMemoryBus } from '@buckley/bus';
import { createInMemoryEventStore } from '@buckley/events';
import {
  EventHeader,
  type EventPublisher,
  InMemoryCheckpointStore,
  createBusEventPublisher,
  createEventDeduper,
  createOutboxRelay,
  eventSubject,
} from './outbox-relay.js';

const ev = (n: number) => ({ type: 'test.happened', data: { n } });

describe('outbox relay over the in-memory bus', () => {
  it('publishes every event in log order on its stream subject with id, stream, version and position headers', async () => {
    await using store = createInMemoryEventStore();
    await using bus = createInMemoryBus();
    const got: BusMessage[] = [];
    await bus.subscribe('buckley.events.>', (m) => {
      got.push(m);
    });
    await store.append('session:a.b', [ev(1), ev(2)]);
    await using relay = await createOutboxRelay({ store, publisher: createBusEventPublisher(bus), checkpoints: new InMemoryCheckpointStore(), batchSize: 2 });
    await store.append('task:x', [ev(3)]);
    await store.append('session:a.b', [ev(4)]);
    await relay.drain({ timeoutMs: 5_000 });
    const log = await store.readAll();
    expect(got.map((m) => m.headers[EventHeader.MsgId])).toEqual(log.map((e) => e.id));
    expect(got[0]!.subject).toBe(eventSubject('session:a.b'));
    expect(got[0]!.subject).toBe('buckley.events.session_3Aa_2Eb');
    expect(got[2]!.headers).toMatchObject({ 'Buckley-Stream-Id': 'task:x', 'Buckley-Version': '1', 'Buckley-Position': log[2]!.position });
    expect(got.map((m) => (m.json<StoredEvent>().data as { n: number }).n)).toEqual([1, 2, 3, 4]);
    expect(relay.checkpoint).toBe(log[3]!.position);
  });

  it('resumes after its checkpoint: a restarted relay sends only what came later', async () => {
    await using store = createInMemoryEventStore();
    await using bus = createInMemoryBus();
    const ids: string[] = [];
    await bus.subscribe('buckley.events.>', (m) => {
      ids.push(m.headers[EventHeader.MsgId]!);
    });
    const checkpoints = new InMemoryCheckpointStore();
    const first = await createOutboxRelay({ store, publisher: createBusEventPublisher(bus), checkpoints });
    await store.append('s:1', [ev(1), ev(2)]);
    await first.drain({ timeoutMs: 5_000 });
    await first.close();
    await store.append('s:1', [ev(3)]);
    expect(ids).toHaveLength(2);
    const second = await createOutboxRelay({ store, publisher: createBusEventPublisher(bus), checkpoints });
    await second.drain({ timeoutMs: 5_000 });
    await second.close();
    expect(ids).toEqual((await store.readAll()).map((e) => e.id));
  });

  it('retries a failed publish until it is acknowledged, without losing or reordering events', async () => {
    await using store = createInMemoryEventStore();
    const sent: string[] = [];
    let failures = 2;
    const errors: unknown[] = [];
    const publisher: EventPublisher = {
      async publish(events) {
        // Half the batch goes out before the failure, as over a dropped connection.
        sent.push(...events.slice(0, Math.ceil(events.length / 2)).map((e) => e.id));
        if (failures-- > 0) throw new Error('connection lost');
        sent.push(...events.slice(Math.ceil(events.length / 2)).map((e) => e.id));
      },
    };
    await store.append('s:1', [ev(1), ev(2), ev(3)]);
    await using relay = await createOutboxRelay({
      store,
      publisher,
      checkpoints: new InMemoryCheckpointStore(),
      retryDelayMs: 1,
      onError: (e) => errors.push(e),
    });
    await relay.drain({ timeoutMs: 5_000 });
    expect(errors).toHaveLength(2);
    const dedupe = createEventDeduper();
    expect(sent.filter((id) => dedupe.firstSeen(id))).toEqual((await store.readAll()).map((e) => e.id));
    expect(sent.length).toBeGreaterThan(3);
  });
});

describe('createEventDeduper', () => {
  it('passes each id once and forgets the oldest beyond its capacity', () => {
    const dedupe = createEventDeduper({ capacity: 2 });
    expect(['a', 'a', 'b', 'a'].map((id) => dedupe.firstSeen(id))).toEqual([true, false, true, false]);
    dedupe.firstSeen('c');
    expect(dedupe.size).toBe(2);
    expect(dedupe.firstSeen('a')).toBe(true);
  });
});
