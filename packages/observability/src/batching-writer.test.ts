import { type EventStore, createInMemoryEventStore } from '@buckley/events';
import { ManualClock } from '@buckley/utils';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createBatchingWriter, createObservabilityMetrics, isObservabilityError } from './index.js';

describe('batching writer bounds', () => {
  it('callers waiting for room never overfill the buffer, and every one of them is written', async () => {
    await using store = createInMemoryEventStore();
    const metrics = createObservabilityMetrics({ registry: new Registry(), defaultMetrics: false });
    const writer = createBatchingWriter(store, { maxBatch: 50, maxBuffered: 100, flushIntervalMs: 5, metrics });
    let maxBuffered = 0;
    const writes = Array.from({ length: 2_000 }, (_, seq) =>
      writer.write('s', { type: 'test.bound', data: { seq } }).then(() => {
        maxBuffered = Math.max(maxBuffered, writer.stats().buffered);
      }),
    );
    await Promise.all(writes);
    await writer.close();
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(100);
    const stored = await store.read('s');
    expect(stored.map((e) => e.data.seq)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
    expect(writer.stats()).toEqual({ accepted: 2_000, written: 2_000, dropped: 0, buffered: 0 });
  });

  it("'drop' mode rejects what does not fit, counts it and records a telemetry.dropped event", async () => {
    await using store = createInMemoryEventStore();
    const registry = new Registry();
    const metrics = createObservabilityMetrics({ registry, defaultMetrics: false });
    const writer = createBatchingWriter(store, { maxBatch: 10, maxBuffered: 10, flushIntervalMs: 1_000, overflow: 'drop', metrics });
    const results = await Promise.allSettled(Array.from({ length: 25 }, (_, seq) => writer.write('s', { type: 'test.drop', data: { seq } })));
    await writer.close();
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(15);
    for (const r of rejected) {
      expect(isObservabilityError(r.reason, 'TELEMETRY_DROPPED')).toBe(true);
      expect(r.reason).toMatchObject({ reason: 'buffer_full' });
    }
    expect((await store.read('s')).map((e) => e.data.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const [report] = await store.read('system');
    expect(report).toMatchObject({ type: 'telemetry.dropped', data: { count: 15, total: 15, reason: 'buffer_full', byFamily: { test: 15 } } });
    expect(await registry.metrics()).toContain('buckley_telemetry_dropped_total{reason="buffer_full",family="test"} 15');
    await expect(writer.write('s', { type: 'test.drop', data: {} })).rejects.toMatchObject({ code: 'CLOSED', resource: 'batching writer' });
  });

  it('a failing flush is retried with utils backoffDelay (20 ms doubling, capped at 1 s, jittered), then dropped and counted', async () => {
    await using inner = createInMemoryEventStore();
    const clock = new ManualClock(0);
    const attempts: number[] = [];
    const store: EventStore = new Proxy(inner, {
      get: (target, key) =>
        key === 'appendToStreams'
          ? async () => {
              attempts.push(clock.now());
              throw Object.assign(new Error('store down'), { code: 'EVENT_STORE_UNAVAILABLE' });
            }
          : Reflect.get(target, key, target),
    });
    const writer = createBatchingWriter(store, { flushIntervalMs: 0, maxRetries: 8, clock });
    const written = writer.write('s', { type: 'test.retry', data: {} }).then(
      () => 'stored',
      (error: unknown) => error,
    );
    for (let t = 0; t < 5_000 && attempts.length < 9; t += 5) await clock.advance(5);
    const error = await written;
    expect(isObservabilityError(error, 'TELEMETRY_DROPPED')).toBe(true);
    expect(error).toMatchObject({ reason: 'store_failed' });
    // Nine attempts of the batch; a tenth call is the telemetry.dropped report (through append).
    const waits = attempts.slice(1, 9).map((at, i) => at - attempts[i]!);
    expect(waits).toHaveLength(8);
    expect(attempts.length).toBeGreaterThanOrEqual(9);
    for (const [i, wait] of waits.entries()) {
      const nominal = Math.min(1_000, 20 * 2 ** i);
      // The clock moves in 5 ms steps: a wait is seen up to 5 ms late.
      expect(wait).toBeGreaterThanOrEqual(Math.floor(nominal * 0.75));
      expect(wait).toBeLessThanOrEqual(Math.min(1_000, nominal * 1.25) + 5);
    }
    expect(new Set(waits.slice(0, 5).map((w, i) => w / (20 * 2 ** i))).size).toBeGreaterThan(1);
    expect(writer.stats()).toMatchObject({ accepted: 1, written: 0, dropped: 1 });
    await writer.close();
  });
});
