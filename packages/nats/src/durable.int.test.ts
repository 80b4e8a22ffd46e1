import { randomSuffix } from '@buckley/testing';
import { uuidv7 } from '@buckley/utils';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { consumeDurable, publishDurable } from './durable.js';
import { createNatsBus } from './nats-bus.js';
import { connectTest } from './test-env.js';
import { startPrivateNatsServer } from './test-server.js';

const reconnecting = { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 3_000 } as const;

describe('NATS server restarted in the middle of a publish stream', () => {
  it('the subscriber ends with every message exactly once after dedupe by id', async () => {
    await using server = await startPrivateNatsServer();
    const pub = await connect({ servers: server.url, name: 'fault-publisher', ...reconnecting });
    const sub = await connect({ servers: server.url, name: 'fault-subscriber', ...reconnecting });
    try {
      const stream = `FAULT_${randomSuffix().toUpperCase()}`;
      const prefix = `t_${randomSuffix()}`;
      const jsm = await jetstreamManager(pub);
      await jsm.streams.add({ name: stream, subjects: [`${prefix}.events.>`], duplicate_window: nanos(120_000) });
      const js = jetstream(pub);

      const received = new Map<string, number>();
      const consumer = await consumeDurable(jetstream(sub), stream, (m) => {
        received.set(m.id, (received.get(m.id) ?? 0) + 1);
      });

      const busSub = createNatsBus(sub);
      const busPub = createNatsBus(pub);
      const probes: string[] = [];
      await busSub.subscribe(`${prefix}.probe`, (m) => void probes.push(m.text()));
      await busPub.subscribe(`${prefix}.echo`, (m) => void m.respond(`echo ${m.text()}`));

      const total = 600;
      const ids = Array.from({ length: total }, () => uuidv7());
      let retries = 0;
      let restart: Promise<void> | undefined;
      for (const [i, id] of ids.entries()) {
        if (i === total / 3) restart = server.restart({ downMs: 500 });
        await publishDurable(js, `${prefix}.events.s${i % 7}`, JSON.stringify({ i }), {
          msgId: id,
          timeoutMs: 500,
          retry: { onRetry: () => void retries++, maxRetries: 60 },
        });
      }
      await restart;

      const deadline = Date.now() + 30_000;
      while (received.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await consumer.close();
      await consumer.close();

      // The bus rides the same reconnecting connections: subscriptions made before the restart
      // are restored by the client and work again afterwards.
      busPub.publish(`${prefix}.probe`, 'after restart');
      expect((await busSub.request(`${prefix}.echo`, 'ping', { timeoutMs: 2_000 })).text()).toBe('echo ping');
      while (probes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(probes).toEqual(['after restart']);
      await busSub.close();
      await busPub.close();

      // The restart really interrupted the stream: some publishes had to be retried.
      expect(retries).toBeGreaterThan(0);
      expect(received.size).toBe(total);
      expect(ids.every((id) => received.get(id) === 1)).toBe(true);
      // JetStream kept one copy per id even where a retried publish had already been stored.
      expect((await jsm.streams.info(stream)).state.messages).toBe(total);
      await jsm.streams.delete(stream);
    } finally {
      await pub.close();
      await sub.close();
    }
  });
});

describe('consumeDurable', () => {
  it('reports a message without Nats-Msg-Id once and drops redelivered ids', async () => {
    const nc = await connectTest('durable.int.test');
    try {
      const stream = `DUR_${randomSuffix().toUpperCase()}`;
      const prefix = `t_${randomSuffix()}`;
      const jsm = await jetstreamManager(nc);
      // A zero duplicate window lets the stream store the same id twice, as after the window passed.
      await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], duplicate_window: nanos(100) });
      const js = jetstream(nc);
      await js.publish(`${prefix}.a`, 'no id');
      await publishDurable(js, `${prefix}.a`, 'one', { msgId: 'id-1' });
      await new Promise((r) => setTimeout(r, 150));
      await publishDurable(js, `${prefix}.a`, 'one again', { msgId: 'id-1' });
      await publishDurable(js, `${prefix}.a`, 'two', { msgId: 'id-2' });
      const got: string[] = [];
      const rejectedReasons: string[] = [];
      const consumer = await consumeDurable(js, stream, (m) => void got.push(new TextDecoder().decode(m.data)), {
        onRejected: (reason) => rejectedReasons.push(reason),
      });
      const deadline = Date.now() + 5_000;
      while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      await consumer.close();
      expect(got).toEqual(['one', 'two']);
      expect(consumer.duplicates).toBe(1);
      expect(rejectedReasons).toHaveLength(1);
      expect(rejectedReasons[0]).toContain('has no Nats-Msg-Id');
      await jsm.streams.delete(stream);
    } finally {
      await nc.drain();
    }
  });
});
