import { describe, expect, it } from 'vitest';
import { InvalidEventStoreOptionError } from './event-store-errors.js';
import {
  checkExpectedVersion,
  jsonProblem,
  matchesFilter,
  normalizeFilter,
  parseCursor,
  resolvePosition,
  resolveStoreOptions,
  resolveSubscribeFrom,
  toIsoMillis,
} from './validation.js';
import type { StoredEvent } from './event-store.js';

describe('jsonProblem', () => {
  it('accepts plain JSON, including null-prototype objects and nested arrays', () => {
    expect(jsonProblem({ a: [1, 'x', null, { b: true }], c: Object.assign(Object.create(null), { d: 1 }) }, 'data', true)).toBeUndefined();
  });

  it('names the path of the first problem by place, never by key', () => {
    expect(jsonProblem({ ok: 1, a: { 'odd key': [0, () => 1] } }, 'data', true)).toBe('data.<key 1>.<key 0>[1] is a function');
    expect(jsonProblem({ s: Symbol('x') }, 'data')).toBe('data.<key 0> is a symbol');
    // oxlint-disable-next-line no-sparse-arrays
    expect(jsonProblem({ holes: [1, , 3] }, 'data')).toBe('data.<key 0>[1] is an empty array slot');
    expect(jsonProblem({ a: 'x', b: ['ok', 'bad \ud800'] }, 'data')).toBe(
      'data.<key 1>[1] contains a lone surrogate (not well-formed Unicode), which Postgres cannot store',
    );
    expect(jsonProblem({ 'nul\u0000key': 1 }, 'data')).toBe('data.<key 0> is a key with a NUL character (\\u0000), which Postgres cannot store');
    // A surrogate pair is a character like any other.
    expect(jsonProblem({ emoji: '\ud83d\ude00' }, 'data')).toBeUndefined();
    expect(jsonProblem({ [Symbol('k')]: 1 }, 'data')).toBe('data has symbol keys');
    expect(
      jsonProblem(
        new (class Point {
          readonly x = 1;
        })(),
        'data',
        true,
      ),
    ).toBe('data must be a plain JSON object, got a Point object');
  });

  it('refuses nesting deeper than 512 levels, without overflowing the stack', () => {
    const nested = (depth: number) => {
      let value: unknown = {};
      for (let i = 1; i < depth; i++) value = { a: [value] };
      return value;
    };
    // nested(n) is 2n - 1 levels deep: 511 passes, 513 does not.
    expect(jsonProblem(nested(256), 'data', true)).toBeUndefined();
    expect(jsonProblem(nested(257), 'data', true)).toBe('data nests objects and arrays deeper than 512 levels');
    expect(jsonProblem(nested(100_000), 'data', true)).toBe('data nests objects and arrays deeper than 512 levels');
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { n: 1 };
    expect(jsonProblem({ a: shared, b: [shared] }, 'data', true)).toBeUndefined();
  });
});

describe('options', () => {
  it('positions are canonical non-negative int64 strings', () => {
    expect(resolvePosition('after', '0')).toBe('0');
    expect(resolvePosition('after', '9223372036854775807')).toBe('9223372036854775807');
    expect(resolvePosition('after', '12~3456')).toBe('12~3456');
    expect(parseCursor('12~3456')).toEqual({ position: '12', horizon: '3456' });
    expect(parseCursor('12')).toEqual({ position: '12' });
    for (const bad of ['01', '-1', '9223372036854775808', '1.5', '', '1~', '~1', '1~01', 7, null]) {
      expect(() => resolvePosition('after', bad)).toThrow(InvalidEventStoreOptionError);
    }
  });

  it('store options reject bad partitions and sizes with the option named', () => {
    expect(resolveStoreOptions().partition).toBe('default');
    expect(() => resolveStoreOptions({ partition: 'a b' })).toThrow('partition (a string of 3 characters) is invalid');
    expect(() => resolveStoreOptions({ maxEventBytes: 0 })).toThrow('maxEventBytes (a number) is invalid');
  });

  it('subscription starts depend on the kind of subscription', () => {
    expect(resolveSubscribeFrom({ version: 0 }, true)).toEqual({ kind: 'version', version: 1 });
    expect(resolveSubscribeFrom({ after: '5' }, false)).toEqual({ kind: 'after', after: '5' });
    expect(() => resolveSubscribeFrom({ after: '5' }, true)).toThrow(InvalidEventStoreOptionError);
    expect(() => resolveSubscribeFrom({ version: 2 }, false)).toThrow(InvalidEventStoreOptionError);
  });

  it('expected versions: 0 means no stream; the error carries both sides', () => {
    expect(() => checkExpectedVersion('s', 0, 0)).not.toThrow();
    expect(() => checkExpectedVersion('s', 'exists', 0)).toThrow('stream (a string of 1 characters) is at version 0, expected version "exists"');
  });

  it('times normalise to UTC milliseconds', () => {
    expect(toIsoMillis('2026-01-01T01:00:00+01:00')).toBe('2026-01-01T00:00:00.000Z');
    expect(toIsoMillis('January 1')).toBeUndefined();
    expect(toIsoMillis(new Date('nope'))).toBeUndefined();
  });
});

describe('matchesFilter', () => {
  const event = (type: string, metadata: Record<string, unknown> = {}): StoredEvent =>
    ({ type, metadata, occurredAt: '2026-01-01T00:00:00.000Z' }) as unknown as StoredEvent;

  it('ANDs fields and ORs the values of one field', () => {
    const filter = normalizeFilter({ typePrefix: ['tool.', 'model.'], outcome: ['failure', 'timeout'], sessionId: 's' });
    expect(matchesFilter(event('tool.run.failed', { sessionId: 's', outcome: 'timeout' }), filter)).toBe(true);
    expect(matchesFilter(event('tool.run.failed', { sessionId: 'other', outcome: 'timeout' }), filter)).toBe(false);
    expect(matchesFilter(event('plan.updated', { sessionId: 's', outcome: 'failure' }), filter)).toBe(false);
    expect(matchesFilter(event('tool.run.failed', { sessionId: 's' }), filter)).toBe(false);
  });

  it('treats occurredBefore as exclusive and occurredFrom as inclusive', () => {
    expect(matchesFilter(event('x.y'), normalizeFilter({ occurredFrom: '2026-01-01T00:00:00.000Z' }))).toBe(true);
    expect(matchesFilter(event('x.y'), normalizeFilter({ occurredBefore: '2026-01-01T00:00:00.000Z' }))).toBe(false);
  });
});
