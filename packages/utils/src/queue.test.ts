import { describe, expect, it } from 'vitest';
import { AbortedError, BoundedQueue, ClosedError, InvalidArgumentError } from './index.js';

describe('BoundedQueue', () => {
  it('keeps first-in first-out order', async () => {
    const q = new BoundedQueue<number>({ capacity: 3 });
    await q.push(1);
    await q.push(2);
    await q.push(3);
    expect([await q.shift(), await q.shift(), await q.shift()]).toEqual([1, 2, 3]);
  });

  it('wait: a producer on a full queue waits until a consumer makes room', async () => {
    const q = new BoundedQueue<number>({ capacity: 1 });
    await q.push(1);
    let admitted = false;
    const p = q.push(2).then((v) => (admitted = v));
    await new Promise((r) => setImmediate(r));
    expect(admitted).toBe(false);
    expect(await q.shift()).toBe(1);
    await p;
    expect(admitted).toBe(true);
    expect(q.size).toBe(1);
    expect(await q.shift()).toBe(2);
    expect(q.dropped).toBe(0);
  });

  it('drop-newest drops the pushed item and counts it', async () => {
    const q = new BoundedQueue<number>({ capacity: 2, overflow: 'drop_newest' });
    expect(await q.push(1)).toBe(true);
    expect(await q.push(2)).toBe(true);
    expect(await q.push(3)).toBe(false);
    expect(q.dropped).toBe(1);
    q.close();
    const seen: number[] = [];
    for await (const v of q) seen.push(v);
    expect(seen).toEqual([1, 2]);
  });

  it('drop-oldest keeps the newest items, counting what it dropped', async () => {
    const q = new BoundedQueue<number>({ capacity: 2, overflow: 'drop_oldest' });
    for (let i = 1; i <= 5; i++) await q.push(i);
    expect(q.dropped).toBe(3);
    expect([await q.shift(), await q.shift()]).toEqual([4, 5]);
  });

  it('lets each producer choose its policy per push', async () => {
    const q = new BoundedQueue<number>({ capacity: 1 });
    await q.push(1);
    expect(await q.push(2, { overflow: 'drop_newest' })).toBe(false);
    expect(q.tryPush(3)).toBe(false);
    expect(q.dropped).toBe(1);
  });

  it('an aborted waiting producer does not enqueue its item', async () => {
    const q = new BoundedQueue<number>({ capacity: 1 });
    await q.push(1);
    const c = new AbortController();
    const p = q.push(2, { signal: c.signal });
    c.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    expect(await q.shift()).toBe(1);
    expect(q.size).toBe(0);
  });

  it('a waiting consumer receives a pushed item directly and can be aborted', async () => {
    const q = new BoundedQueue<string>({ capacity: 1 });
    const got = q.shift();
    await q.push('x');
    expect(await got).toBe('x');
    const c = new AbortController();
    const waiting = q.shift({ signal: c.signal });
    c.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    await q.push('y');
    expect(await q.shift()).toBe('y');
  });

  it('close: pushes reject, waiting producers reject, consumers drain then finish', async () => {
    const q = new BoundedQueue<number>({ capacity: 1 });
    await q.push(1);
    const waiting = q.push(2);
    q.close();
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    await expect(q.push(3)).rejects.toBeInstanceOf(ClosedError);
    expect(() => q.tryPush(4)).toThrow(ClosedError);
    expect(await q.shift()).toBe(1);
    await expect(q.shift()).rejects.toBeInstanceOf(ClosedError);
  });

  it('close wakes consumers blocked on an empty queue', async () => {
    const q = new BoundedQueue<number>({ capacity: 1 });
    const iteration = (async () => {
      const seen: number[] = [];
      for await (const v of q) seen.push(v);
      return seen;
    })();
    await q.push(7);
    q.close();
    expect(await iteration).toEqual([7]);
  });

  it('stays bounded in memory under a long run of drop-oldest pushes', async () => {
    const q = new BoundedQueue<number>({ capacity: 10, overflow: 'drop_oldest' });
    for (let i = 0; i < 100_000; i++) await q.push(i);
    expect(q.size).toBe(10);
    expect(q.dropped).toBe(99_990);
    expect(await q.shift()).toBe(99_990);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new BoundedQueue({ capacity: 0 })).toThrow(InvalidArgumentError);
    expect(() => new BoundedQueue({ capacity: 1.5 })).toThrow('capacity must be an integer >= 1, got 1.5');
  });

  it('refuses an overflow policy it does not know, at construction and per push, and enqueues nothing', async () => {
    expect(() => new BoundedQueue<number>({ capacity: 1, overflow: 'drop-oldest' as never })).toThrow(
      /overflow must be one of wait, drop_newest, drop_oldest, got "drop-oldest"/,
    );
    const q = new BoundedQueue<number>({ capacity: 1 });
    await q.push(1);
    await expect(q.push(2, { overflow: 'newest' as never })).rejects.toThrow(InvalidArgumentError);
    expect(q.size).toBe(1);
    expect(q.dropped).toBe(0);
  });
});
