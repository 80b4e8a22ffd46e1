import { type EventStore, type StoredEvent } from '@buckley/events';
import { type BusMessage, createInMemoryBus, type InMemoryBus } from '@buckley/bus';
import { type CheckpointStore, EventHeader, createBusEventPublisher, createEventDeduper, createOutboxRelay } from '@buckley/coordination';
import { type TestPostgres, createTestPostgres } from '@buckley/testing/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresCheckpointStore, createPostgresEventStore } from './index.js';

let pgt: TestPostgres;
beforeAll(async () => {
  pgt = await createTestPostgres('relay');
});
afterAll(() => pgt?.close());

/** The whole log once it holds `count` events: a gap-safe read may lag behind transactions still open elsewhere on the server. */
async function readAllOf(store: EventStore, count: number): Promise<StoredEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = await store.readAll({ limit: count + 100 });
    if (log.length >= count || Date.now() > deadline) return log;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ev = (n: number) => ({ type: 'test.happened', data: { n } });

async function collect(bus: InMemoryBus): Promise<BusMessage[]> {
  const got: BusMessage[] = [];
  await bus.subscribe('buckley.events.>', (m) => {
    got.push(m);
  });
  return got;
}

describe('outbox relay from Postgres', () => {
  it('relays committed events in log order; a rolled-back append publishes nothing; the checkpoint lives in Postgres', async () => {
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition: 'order', pollMs: 100 });
    const checkpoints = await createPostgresCheckpointStore({ pool: pgt.pool, schema: pgt.schema, partition: 'order' });
    await using bus = createInMemoryBus();
    const got = await collect(bus);
    const relay = await createOutboxRelay({ store, publisher: createBusEventPublisher(bus), checkpoints, name: 'main', batchSize: 3 });
    await store.append('session:1', [ev(1), ev(2)]);
    const failed = await store
      .appendToStreams([
        { streamId: 'session:rolled-back', events: [ev(99)] },
        { streamId: 'session:1', events: [ev(98)], expectedVersion: 0 },
      ])
      .catch((error: unknown) => error);
    expect(failed).toMatchObject({ code: 'WRONG_EXPECTED_VERSION' });
    await Promise.all([store.append('session:2', [ev(3)]), store.append('session:3', [ev(4)]), store.append('session:1', [ev(5)])]);
    const log = await readAllOf(store, 5);
    await relay.drain({ timeoutMs: 10_000 });
    await relay.close();
    expect(log).toHaveLength(5);
    expect(got.map((m) => m.headers[EventHeader.MsgId])).toEqual(log.map((e) => e.id));
    expect(got.some((m) => m.headers[EventHeader.StreamId] === 'session:rolled-back')).toBe(false);
    expect(await checkpoints.load('main')).toBe(log[4]!.position);
    const { rows } = await pgt.pool.query(`SELECT name, position FROM "${pgt.schema}".relay_checkpoints WHERE partition = 'order'`);
    expect(rows).toEqual([{ name: 'main', position: log[4]!.position }]);
  });

  it('a relay that dies between publishing and saving its checkpoint re-sends that batch on restart; the deduped stream has every event once', async () => {
    await using store = await createPostgresEventStore({ pool: pgt.pool, schema: pgt.schema, partition: 'crash', pollMs: 100 });
    const durable = await createPostgresCheckpointStore({ pool: pgt.pool, schema: pgt.schema, partition: 'crash' });
    await using bus = createInMemoryBus();
    const got = await collect(bus);
    await store.append('s:1', [ev(1), ev(2), ev(3), ev(4)]);
    let saves = 0;
    // Saves the first batch's checkpoint, then "crashes": no later checkpoint reaches Postgres.
    const dying: CheckpointStore = {
      load: (name) => durable.load(name),
      save: async (name, position) => {
        if (saves++ === 0) return durable.save(name, position);
        throw new Error('process died');
      },
    };
    const first = await createOutboxRelay({ store, publisher: createBusEventPublisher(bus), checkpoints: dying, batchSize: 2, retryDelayMs: 1_000 });
    const deadline = Date.now() + 10_000;
    while (saves < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await first.close();
    const beforeCrash = got.length;
    expect(beforeCrash).toBeGreaterThanOrEqual(2);
    await store.append('s:1', [ev(5)]);
    const second = await createOutboxRelay({ store, publisher: createBusEventPublisher(bus), checkpoints: durable, batchSize: 2 });
    const all = await readAllOf(store, 5);
    await second.drain({ timeoutMs: 10_000 });
    await second.close();
    const ids = got.map((m) => m.headers[EventHeader.MsgId]!);
    // Whatever was published after the saved checkpoint went out twice.
    expect(ids.length).toBeGreaterThan(5);
    expect(ids.slice(0, beforeCrash)).toEqual(all.slice(0, beforeCrash).map((e) => e.id));
    const dedupe = createEventDeduper();
    expect(ids.filter((id) => dedupe.firstSeen(id))).toEqual(all.map((e) => e.id));
  });
});
