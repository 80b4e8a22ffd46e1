import { describe, expect, it } from 'vitest';
import { createInMemoryEventStore, isEventStoreError } from './index.js';

// Shaped like a GitHub token, with a space so it fails every id and cursor rule.
const secret = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2 b'].join('_');

async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** What a log records of the error (message and stack), after checking it is the store's typed error. */
function logged(error: Error): string {
  expect(isEventStoreError(error)).toBe(true);
  return `${error.message}\n${error.stack}`;
}

describe('no error message of the event store quotes a refused value', () => {
  const store = createInMemoryEventStore();
  const described = `a string of ${secret.length} characters`;

  it('a secret as a stream id', async () => {
    const text = logged(await failure(() => store.append(secret, [{ type: 't', data: {} }])));
    expect(text).not.toContain(secret.slice(0, 12));
    expect(text).toContain(`stream id (${described})`);
  });

  it('a secret as an expected version', async () => {
    const text = logged(await failure(() => store.append('s', [{ type: 't', data: {} }], { expectedVersion: secret as never })));
    expect(text).not.toContain(secret.slice(0, 12));
    expect(text).toContain(`expectedVersion (${described})`);
  });

  it('a secret as a cursor and as a filter value', async () => {
    const text = logged(await failure(() => store.readAll({ after: secret })));
    expect(text).not.toContain(secret.slice(0, 12));
    expect(text).toContain(`(${described})`);
    const filtered = logged(await failure(() => store.readAll({ filter: { sessionId: [secret, ''] } as never })));
    expect(filtered).not.toContain(secret.slice(0, 12));
    expect(filtered).toContain('filter.sessionId');
  });

  it('a 10 MB stream id gives a short message', async () => {
    const error = await failure(() => store.append('x'.repeat(10 * 1024 * 1024), [{ type: 't', data: {} }]));
    expect(isEventStoreError(error)).toBe(true);
    expect(error.message.length).toBeLessThan(200);
  });
});
