import { describe, expect, it } from 'vitest';
import { AbortedError, InvalidArgumentError, ManualClock, TimeoutError, anySignal, sleep, systemClock, throwIfAborted, withDeadline } from './index.js';

describe('ManualClock', () => {
  it('fires timers in due order, ties in the order set, only when time reaches them', async () => {
    const clock = new ManualClock(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    clock.setTimeout(() => fired.push('a'), 10);
    clock.setTimeout(() => fired.push('a2'), 10);
    const cancel = clock.setTimeout(() => fired.push('never'), 15);
    cancel();
    await clock.advance(9);
    expect(fired).toEqual([]);
    await clock.advance(11);
    expect(fired).toEqual(['a', 'a2', 'b']);
    expect(clock.now()).toBe(1_020);
    expect(clock.pendingTimers).toBe(0);
  });

  it('fires timers set by timer callbacks when they fall due in the same advance', async () => {
    const clock = new ManualClock();
    const times: number[] = [];
    const tick = () => {
      times.push(clock.now());
      if (times.length < 3) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    await clock.advance(100);
    expect(times).toEqual([10, 20, 30]);
  });
});

describe('sleep', () => {
  it('resolves after the time passes on the given clock', async () => {
    const clock = new ManualClock();
    let done = false;
    const p = sleep(50, { clock }).then(() => (done = true));
    await clock.advance(49);
    expect(done).toBe(false);
    await clock.advance(1);
    await p;
    expect(done).toBe(true);
  });

  it('rejects at once for an aborted signal and clears its timer on abort', async () => {
    const clock = new ManualClock();
    const pre = new AbortController();
    pre.abort();
    await expect(sleep(10, { signal: pre.signal, clock })).rejects.toBeInstanceOf(AbortedError);
    const controller = new AbortController();
    const p = sleep(1_000, { signal: controller.signal, clock });
    expect(clock.pendingTimers).toBe(1);
    controller.abort(new Error('user pressed stop'));
    const error = await p.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).cause).toEqual(new Error('user pressed stop'));
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects negative, infinite and NaN durations, naming the value', () => {
    expect(() => sleep(-1)).toThrow(InvalidArgumentError);
    expect(() => sleep(Number.NaN)).toThrow('ms must be a finite number of milliseconds >= 0, got null');
    expect(() => sleep(Number.POSITIVE_INFINITY)).toThrow(InvalidArgumentError);
  });

  it('really waits on the system clock', async () => {
    const start = performance.now();
    await sleep(20, { clock: systemClock });
    expect(performance.now() - start).toBeGreaterThanOrEqual(15);
  });
});

describe('withDeadline', () => {
  it('returns the task result when it beats the deadline', async () => {
    await expect(withDeadline(async () => 42, { timeoutMs: 1_000 })).resolves.toBe(42);
  });

  it('rejects with TimeoutError and aborts the task signal when the deadline passes, even if the task ignores it', async () => {
    const clock = new ManualClock();
    let seen: AbortSignal | undefined;
    const p = withDeadline(
      (signal) => {
        seen = signal;
        return new Promise<never>(() => {});
      },
      { timeoutMs: 100, clock },
    );
    const settled = p.catch((e: unknown) => e);
    await clock.advance(100);
    const error = await settled;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
  });

  it('rejects with AbortedError when the caller aborts, and leaves no timer behind', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const p = withDeadline(() => new Promise<never>(() => {}), { timeoutMs: 100, signal: controller.signal, clock });
    controller.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    expect(clock.pendingTimers).toBe(0);
  });

  it('passes through a task that throws synchronously', async () => {
    await expect(
      withDeadline(
        () => {
          throw new Error('bad');
        },
        { timeoutMs: 10 },
      ),
    ).rejects.toThrow('bad');
  });
});

describe('signals', () => {
  it('anySignal aborts with the first reason and ignores undefined entries', () => {
    const a = new AbortController();
    const b = new AbortController();
    const combined = anySignal(a.signal, undefined, b.signal);
    b.abort('second');
    expect(combined.aborted).toBe(true);
    expect(combined.reason).toBe('second');
    expect(anySignal(a.signal)).toBe(a.signal);
  });

  it('throwIfAborted keeps a Buckley reason as it is', () => {
    const c = new AbortController();
    const reason = new TimeoutError(5);
    c.abort(reason);
    expect(() => throwIfAborted(c.signal)).toThrow(reason);
    expect(() => throwIfAborted(undefined)).not.toThrow();
  });
});
