import { tooDeepMarker } from '@buckley/security';
import { describe, expect, it } from 'vitest';
import { toJsonValue } from './index.js';

describe('toJsonValue', () => {
  it('keeps JSON values and drops what JSON cannot hold', () => {
    expect(toJsonValue({ a: 1, b: undefined, c: [undefined, NaN], d: new Date(0) })).toEqual({ a: 1, c: [null, null], d: '1970-01-01T00:00:00.000Z' });
    expect(toJsonValue(undefined)).toBeNull();
    expect(toJsonValue(Infinity)).toBeNull();
  });

  it("turns a value too deep to serialise into redact()'s depth marker, not a silent null", () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(tooDeepMarker).toBe('[Truncated: too deep]');
    expect(toJsonValue(deep)).toBe(tooDeepMarker);
    expect(toJsonValue({ output: deep })).toBe(tooDeepMarker);
  });
});
