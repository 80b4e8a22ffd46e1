import { describe, expect, it } from 'vitest';
import type { StoredEvent } from './event-store.js';
import { ChangeNotifier, createPullSubscription } from './subscription.js';

const ev = (n: number) => ({ position: String(n), version: n }) as unknown as StoredEvent;

describe('ChangeNotifier', () => {
  it('returns at once when something changed since the generation the caller saw', async () => {
    const notifier = new ChangeNotifier();
    const seen = notifier.generation;
    notifier.notify();
    const started = Date.now();
    await notifier.wait(seen, 10_000, new AbortController().signal);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('wakes waiters, times out, and ends on abort', async () => {
    const notifier = new ChangeNotifier();
    const waiting = notifier.wait(notifier.generation, 10_000, new AbortController().signal);
    notifier.notify();
    await waiting;
    const started = Date.now();
    await notifier.wait(notifier.generation, 20, new AbortController().signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
    const controller = new AbortController();
    const aborted = notifier.wait(notifier.generation, 10_000, controller.signal);
    controller.abort();
    await aborted;
  });
});

describe('pull subscription', () => {
  it('retries a failing fetch from the same cursor, reporting the error, and skips nothing', async () => {
    const log = [ev(1), ev(2), ev(3)];
    const notifier = new ChangeNotifier();
    let failOnce = true;
    const errors: unknown[] = [];
    const got: string[] = [];
    const sub = createPullSubscription({
      cursor: undefined,
      pageSize: 2,
      onError: (error) => void errors.push(error),
      handler: (e) => void got.push(e.position),
      source: {
        notifier,
        cursorOf: (e) => e.position,
        fetch: async (after, limit) => {
          if (after === '2' && failOnce) {
            failOnce = false;
            throw new Error('connection lost');
          }
          const start = after === undefined ? 0 : Number(after);
          return log.slice(start, start + limit);
        },
      },
    });
    const deadline = Date.now() + 5000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual(['1', '2', '3']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['connection lost']);
    await sub.unsubscribe();
    expect(sub.closed).toBe(true);
  });

  it('an onError that throws does not end delivery', async () => {
    const notifier = new ChangeNotifier();
    const got: string[] = [];
    const sub = createPullSubscription({
      cursor: undefined,
      onError: () => {
        throw new Error('reporter broke');
      },
      handler: (e) => {
        got.push(e.position);
        throw new Error('handler broke');
      },
      source: { notifier, cursorOf: (e) => e.position, fetch: async (after) => (after === undefined ? [ev(1), ev(2)] : []) },
    });
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual(['1', '2']);
    await sub.unsubscribe();
  });

  it('an already aborted signal makes a closed subscription that never fetches', async () => {
    const controller = new AbortController();
    controller.abort();
    let fetched = false;
    const sub = createPullSubscription({
      cursor: undefined,
      signal: controller.signal,
      source: {
        notifier: new ChangeNotifier(),
        cursorOf: (e) => e.position,
        fetch: async () => {
          fetched = true;
          return [];
        },
      },
    });
    expect(sub.closed).toBe(true);
    const iterator = sub[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(fetched).toBe(false);
  });
});
