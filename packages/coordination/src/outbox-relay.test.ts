import { describe, expect, it } from 'vitest';
import type { BusMessage } from '@buckley/bus';
import type { StoredEvent } from '@buckley/events';
import { createInMemoryBus } from '@buckley/bus';
import { createInMemoryEventStore } from '@buckley/events';
import { rejected } from '@buckley/testing';
import { ClosedError, TimeoutError, isClosedError } from '@buckley/utils';
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

describe('outbox relay after close', () => {
  /** A publisher that never acknowledges: it waits for the relay's signal, then rejects. */
  const stuck = (onEnd?: () => void): EventPublisher => ({
    publish: (_events, signal) =>
      new Promise((_resolve, reject) => {
        signal?.addEventListener('abort', () => {
          // Ends a little after the abort, as a real client tearing down a request would.
          setTimeout(() => {
            onEnd?.();
            reject(signal.reason as Error);
          }, 30);
        });
      }),
  });
  const fast = async <T>(run: () => Promise<T>): Promise<{ error: unknown; ms: number }> => {
    const started = Date.now();
    const error = await rejected(run());
    return { error, ms: Date.now() - started };
  };

  it('drain() after close() rejects at once with ClosedError', async () => {
    await using store = createInMemoryEventStore();
    const relay = await createOutboxRelay({ store, publisher: stuck(), checkpoints: new InMemoryCheckpointStore() });
    await store.append('s:1', [ev(1)]);
    await relay.close();
    await store.append('s:1', [ev(2)]);
    for (const drain of [() => relay.drain({ timeoutMs: 5_000 }), () => relay.drain()]) {
      const { error, ms } = await fast(drain);
      expect(error).toBeInstanceOf(ClosedError);
      expect(error).toMatchObject({ code: 'CLOSED', resource: 'outbox relay' });
      expect(ms).toBeLessThan(1_000);
    }
  });

  it('close() during a drain rejects that drain at once with ClosedError', async () => {
    await using store = createInMemoryEventStore();
    const relay = await createOutboxRelay({ store, publisher: stuck(), checkpoints: new InMemoryCheckpointStore() });
    await store.append('s:1', [ev(1)]);
    const started = Date.now();
    const draining = rejected(relay.drain({ timeoutMs: 10_000 }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await relay.close();
    const error = await draining;
    expect(isClosedError(error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a drain that does not finish in time rejects with TimeoutError (TIMEOUT), not a plain Error', async () => {
    await using store = createInMemoryEventStore();
    await using relay = await createOutboxRelay({ store, publisher: stuck(), checkpoints: new InMemoryCheckpointStore(), name: 'relay-a' });
    await store.append('s:1', [ev(1)]);
    const error = await rejected(relay.drain({ timeoutMs: 100 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'TIMEOUT', timeoutMs: 100, retryable: true });
  });

  it('every close() resolves only once the batch in flight has ended, also a second concurrent one', async () => {
    await using store = createInMemoryEventStore();
    let ended = false;
    const relay = await createOutboxRelay({ store, publisher: stuck(() => (ended = true)), checkpoints: new InMemoryCheckpointStore() });
    await store.append('s:1', [ev(1)]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const first = relay.close();
    await relay.close();
    expect(ended).toBe(true);
    await first;
    await relay[Symbol.asyncDispose]();
  });

  it('a publisher that was closed stops the relay: the ClosedError goes to onError once and drain() rejects with ClosedError', async () => {
    await using store = createInMemoryEventStore();
    const bus = createInMemoryBus();
    const errors: unknown[] = [];
    await using relay = await createOutboxRelay({
      store,
      publisher: createBusEventPublisher(bus),
      checkpoints: new InMemoryCheckpointStore(),
      retryDelayMs: 1,
      onError: (e) => errors.push(e),
    });
    await bus.close();
    await store.append('s:1', [ev(1)]);
    const { error, ms } = await fast(() => relay.drain({ timeoutMs: 5_000 }));
    expect(error).toMatchObject({ code: 'CLOSED', resource: 'outbox relay' });
    expect(isClosedError((error as Error).cause)).toBe(true);
    expect(ms).toBeLessThan(2_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toHaveLength(1);
    expect(isClosedError(errors[0])).toBe(true);
  });
});
