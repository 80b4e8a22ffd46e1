import { describe, expect, it } from 'vitest';
import { isInside } from './index.js';

describe('isInside', () => {
  it('holds for the root itself and what is below it', () => {
    expect(isInside('/w/app', '/w/app')).toBe(true);
    expect(isInside('/w/app', '/w/app/src/x.ts')).toBe(true);
    expect(isInside('/', '/etc')).toBe(true);
    expect(isInside('/w/app/', '/w/app/src')).toBe(true);
  });

  it('compares whole components: a sibling with the same prefix and a parent are outside', () => {
    expect(isInside('/w/app', '/w/app-secrets')).toBe(false);
    expect(isInside('/w/app', '/w/appx/y')).toBe(false);
    expect(isInside('/w/app', '/w')).toBe(false);
    expect(isInside('/w/app/src', '/w/app')).toBe(false);
  });
});
