import { expect, it } from 'vitest';

/**
 * What `fn` throws (or its promise rejects with), for asserting on an error's fields.
 * Fails the test when nothing is thrown.
 */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned');
}

/** The rejection reason of `promise`; fails when it resolves. */
export async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/**
 * Registers the test that every skip of a conformance suite names one of its tests and gives
 * a reason, so a suite cannot be silently thinned.
 */
export function checkSkips(tests: readonly string[], skip: Readonly<Record<string, string>>): void {
  it('declares every skip with a reason and a real test name', () => {
    for (const [test, reason] of Object.entries(skip)) {
      expect(tests).toContain(test);
      expect(reason.trim()).not.toBe('');
    }
  });
}
