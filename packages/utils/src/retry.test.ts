import { RetryExhaustedError, backoffDelay, retry } from './retry.js';
import { rejected } from '@buckley/testing';
import { AbortedError, BuckleyError, InvalidArgumentError, ManualClock, TimeoutError } from './index.js';
import { describe, expect, it } from 'vitest';

const retryable = () => new TimeoutError(10);

describe('retry', () => {
  it('returns the first success without waiting', async () => {
    const clock = new ManualClock(0);
    let attempts = 0;
    await expect(retry(async () => ++attempts, { clock })).resolves.toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('retries retryable errors with exponential backoff and succeeds', async () => {
    const clock = new ManualClock(0);
    const delays: number[] = [];
    let attempts = 0;
    const result = retry(
      async () => {
        attempts++;
        if (attempts < 3) throw retryable();
        return 'ok';
      },
      { clock, baseDelayMs: 100, jitter: 0, onRetry: ({ delayMs }) => delays.push(delayMs) },
    );
    await clock.advance(99);
    expect(attempts).toBe(1);
    await clock.advance(1);
    expect(attempts).toBe(2);
    await clock.advance(200);
    await expect(result).resolves.toBe('ok');
    expect(delays).toEqual([100, 200]);
  });

  it('fails fast on an error not marked retryable', async () => {
    let attempts = 0;
    const original = new BuckleyError('NOPE', 'permanent');
    const error = await rejected(
      retry(async () => {
        attempts++;
        throw original;
      }),
    );
    expect(error).toBe(original);
    expect(attempts).toBe(1);
    let plain = 0;
    await rejected(
      retry(async () => {
        plain++;
        throw new Error('not a Buckley error');
      }),
    );
    expect(plain).toBe(1);
  });

  it('makes maxRetries + 1 attempts, then wraps the last error', async () => {
    const clock = new ManualClock(0);
    let attempts = 0;
    const last = retryable();
    const done = rejected(
      retry(
        async () => {
          attempts++;
          throw attempts === 4 ? last : retryable();
        },
        { clock, maxRetries: 3 },
      ),
    );
    await clock.advance(60_000);
    const error = await done;
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect((error as RetryExhaustedError).attempts).toBe(4);
    expect((error as RetryExhaustedError).cause).toBe(last);
    expect(attempts).toBe(4);
  });

  it('maxRetries 0 tries once', async () => {
    let attempts = 0;
    const error = await rejected(
      retry(
        async () => {
          attempts++;
          throw retryable();
        },
        { maxRetries: 0 },
      ),
    );
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect(attempts).toBe(1);
  });

  it('an abort during the backoff rejects at once and makes no further attempt', async () => {
    const clock = new ManualClock(0);
    const controller = new AbortController();
    let attempts = 0;
    const done = rejected(
      retry(
        async () => {
          attempts++;
          throw retryable();
        },
        { clock, signal: controller.signal, baseDelayMs: 1_000 },
      ),
    );
    await clock.advance(10);
    controller.abort();
    expect(await done).toBeInstanceOf(AbortedError);
    await clock.advance(60_000);
    expect(attempts).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('an already aborted signal makes no attempt', async () => {
    const controller = new AbortController();
    controller.abort();
    let attempts = 0;
    expect(await rejected(retry(async () => ++attempts, { signal: controller.signal }))).toBeInstanceOf(AbortedError);
    expect(attempts).toBe(0);
  });

  it('jitter stays within ±jitter and the delay is capped at maxDelayMs', () => {
    const o = { baseDelayMs: 100, multiplier: 2, jitter: 0.25, maxDelayMs: 1_000 };
    expect(backoffDelay(1, o, 0)).toBe(75);
    expect(backoffDelay(1, o, 0.999_999)).toBeCloseTo(125, 3);
    expect(backoffDelay(2, o, 0.5)).toBe(200);
    expect(backoffDelay(10, o, 0.999)).toBe(1_000);
    const draws = Array.from({ length: 50 }, () => backoffDelay(3, o, Math.random()));
    expect(new Set(draws).size).toBeGreaterThan(1);
    for (const d of draws) expect(d >= 300 && d < 500).toBe(true);
  });

  it('rejects bad options with the option named', async () => {
    const error = await rejected(retry(async () => 1, { maxRetries: -1 }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain('maxRetries -1');
  });
});
