import { describe, expect, it } from 'vitest';
import { AbortedError, BuckleyError, ClosedError, TimeoutError, isBuckleyError, isClosedError, isRetryableError } from './index.js';

class LockError extends BuckleyError {}

describe('BuckleyError', () => {
  it('carries a stable code, its subclass name, a cause and retry advice', () => {
    const cause = new Error('socket hang up');
    const error = new LockError('LOCK_NOT_HELD', 'lock "a" is not held', { cause, retryable: true });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('LockError');
    expect(error.code).toBe('LOCK_NOT_HELD');
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(true);
    expect(isRetryableError(error)).toBe(true);
  });

  it('is not retryable unless said so', () => {
    expect(new ClosedError('store').retryable).toBe(false);
    expect(new ClosedError('store').message).toBe('store is closed');
    expect(isRetryableError(new Error('x'))).toBe(false);
  });

  it('names what was closed, and isClosedError matches by code only', () => {
    const error = new ClosedError('event store', { cause: new Error('pool ended') });
    expect(error).toMatchObject({ code: 'CLOSED', resource: 'event store', name: 'ClosedError' });
    expect(isClosedError(error)).toBe(true);
    expect(isClosedError(Object.assign(new Error('x'), { code: 'CLOSED', retryable: false }))).toBe(true);
    expect(isClosedError(new AbortedError())).toBe(false);
    expect(isClosedError({ code: 'CLOSED', retryable: false })).toBe(false);
  });

  it('guards by shape and code, so copies from another install still match', () => {
    const foreign = Object.assign(new Error('x'), { code: 'TIMEOUT', retryable: true });
    expect(isBuckleyError(foreign)).toBe(true);
    expect(isBuckleyError(foreign, 'TIMEOUT')).toBe(true);
    expect(isBuckleyError(foreign, 'ABORTED')).toBe(false);
    expect(isBuckleyError({ code: 'TIMEOUT', retryable: true })).toBe(false);
    expect(isBuckleyError(null)).toBe(false);
  });

  it('timeouts are retryable and say how long they waited; aborts are not', () => {
    const timeout = new TimeoutError(250);
    expect(timeout.code).toBe('TIMEOUT');
    expect(timeout.timeoutMs).toBe(250);
    expect(timeout.message).toBe('timed out after 250 ms');
    expect(timeout.retryable).toBe(true);
    expect(new AbortedError().retryable).toBe(false);
  });
});

describe('describeValue', () => {
  it('shows only the kind and size of a value, never its content', async () => {
    const { describeValue } = await import('./index.js');
    expect([describeValue(84736251), describeValue(true), describeValue(null), describeValue(undefined), describeValue(1n)]).toEqual([
      'a number',
      'a boolean',
      'null',
      'undefined',
      'a bigint',
    ]);
    expect([describeValue(''), describeValue('ghp_secret')]).toEqual(['a string of 0 characters', 'a string of 10 characters']);
    expect([describeValue([1, 2]), describeValue({ password: 'x' }), describeValue(new Map()), describeValue(Object.create(null))]).toEqual([
      'an array of 2 items',
      'an object',
      'a Map object',
      'an object',
    ]);
    expect([describeValue(() => 1), describeValue(Symbol('s'))]).toEqual(['a function', 'a symbol']);
  });
});
