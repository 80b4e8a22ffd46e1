import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, deterministicUuid, isUuid, uuidv7, uuidv7Time } from './index.js';

describe('uuidv7', () => {
  it('makes canonical version-7 ids with the RFC 9562 variant', () => {
    const id = uuidv7();
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect('89ab').toContain(id[19]);
  });

  it('is strictly increasing within one process, even within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carries its creation time', () => {
    const before = Date.now();
    const id = uuidv7();
    const t = uuidv7Time(id);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });

  it('refuses to read a time from a non-v7 id, naming it', () => {
    expect(() => uuidv7Time('0190a4b8-2f6e-4c3a-8b1d-123456789abc')).toThrow(InvalidArgumentError);
    expect(() => uuidv7Time('nope')).toThrow('id "nope" is not a UUIDv7');
  });

  it('isUuid rejects upper case, wrong lengths and non-strings', () => {
    expect(isUuid('0190A4B8-2F6E-7C3A-8B1D-123456789ABC')).toBe(false);
    expect(isUuid('0190a4b8-2f6e-7c3a-8b1d-123456789ab')).toBe(false);
    expect(isUuid(42)).toBe(false);
  });
});

describe('deterministicUuid', () => {
  it('is a version 5 UUID fixed by its parts, in order, with part boundaries kept', () => {
    const a = deterministicUuid('task', 't1', 'claimed', 1);
    expect(a).toBe(deterministicUuid('task', 't1', 'claimed', 1));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(isUuid(a)).toBe(true);
    expect(deterministicUuid('task', 't1', 'claimed', 2)).not.toBe(a);
    expect(deterministicUuid('task', 't1c', 'laimed', 1)).not.toBe(a);
    expect(deterministicUuid('t1', 'task', 'claimed', 1)).not.toBe(a);
    // A number and its decimal string name the same part.
    expect(deterministicUuid('task', 't1', 'claimed', '1')).toBe(a);
  });

  it('refuses no parts and parts that are not strings or finite numbers', () => {
    expect(() => deterministicUuid()).toThrow(InvalidArgumentError);
    expect(() => deterministicUuid('a', Number.NaN)).toThrow(/must be a string or a finite number/);
    expect(() => deterministicUuid('a', undefined as unknown as string)).toThrow(InvalidArgumentError);
  });
});
