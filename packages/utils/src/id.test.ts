import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, isUuid, uuidv7, uuidv7Time } from './index.js';

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
