import { inspect } from 'node:util';
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

/**
 * Asserts that none of `secrets` is anywhere in `error` a log could record: its message, its
 * stack, `util.inspect` of it (hidden properties and causes included) and its JSON (enumerable
 * and all own properties). For tests that plant a secret in a caller's value; pass distinctive
 * fragments too, so a value cut short still counts. A value an error keeps behind an accessor
 * (read only by code that asks for it, or by `inspect` with `getters: true`) is not looked at.
 */
export function expectNoSecret(error: unknown, ...secrets: string[]): void {
  expect(error).toBeInstanceOf(Error);
  const e = error as Error;
  const views = {
    message: e.message,
    stack: String(e.stack),
    inspect: inspect(e, { depth: 20, showHidden: true }),
    json: JSON.stringify(e),
    ownJson: JSON.stringify(e, Object.getOwnPropertyNames(e)),
  };
  for (const [view, text] of Object.entries(views)) {
    for (const secret of secrets) {
      if (text.includes(secret)) expect.fail(`the ${view} of ${e.name} (${String((e as { code?: unknown }).code)}) contains a planted secret`);
    }
  }
}
