import { expectNoSecret } from '@buckley/testing';
import { describe, expect, it } from 'vitest';
import {
  EventIdConflictError,
  EventStoreErrorCode,
  InvalidEventError,
  InvalidEventStoreOptionError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  WrongExpectedVersionError,
  createInMemoryEventStore,
  isEventStoreError,
} from './index.js';

// Shaped like a GitHub token, with a space so it fails every id and cursor rule.
const token = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2'].join('_');
const secret = `${token} b`;
// A valid stream id that holds the secret.
const streamId = `session:${token}`;

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

  it('a secret as an unknown filter key: the filter is named, the key only described', async () => {
    const error = await failure(() => store.readAll({ filter: { [token]: 'x' } as never }));
    expectNoSecret(error, token);
    expect(error).toMatchObject({ code: EventStoreErrorCode.InvalidOption, option: 'filter' });
    expect(error.message).toContain(`filter (an unknown key, a string of ${token.length} characters) is invalid, expected only the keys types, typePrefix`);
  });

  it('a 10 MB stream id gives a short message', async () => {
    const error = await failure(() => store.append('x'.repeat(10 * 1024 * 1024), [{ type: 't', data: {} }]));
    expect(isEventStoreError(error)).toBe(true);
    expect(error.message.length).toBeLessThan(200);
  });
});

describe('the errors keep caller values for code, out of their message, JSON and inspect output', () => {
  const eventId = '01a23bf5-0c69-7101-bc97-0123456789ab';

  it('every error class of the store contract', () => {
    const errors = [
      new WrongExpectedVersionError(streamId, 3, 1),
      new EventIdConflictError(eventId, streamId, `${streamId}:stored`),
      new InvalidEventError(streamId, 2, eventId, 'data.<key 0> is a function'),
      new InvalidEventError(streamId, 2, secret, 'id is not a UUID'),
      new InvalidStreamIdError(secret, 'contains whitespace or a control character'),
      new InvalidExpectedVersionError(secret),
      new InvalidEventStoreOptionError('after', secret, 'a position'),
    ];
    for (const error of errors) expectNoSecret(error, token);
    const [wrong, conflict, invalid, invalidId, streamError, versionError, optionError] = errors;
    // Numbers, codes and checked ids stay plain fields, so logs and JSON keep what is safe.
    expect(JSON.parse(JSON.stringify(wrong))).toEqual({
      name: 'WrongExpectedVersionError',
      code: 'WRONG_EXPECTED_VERSION',
      retryable: false,
      expected: 3,
      actual: 1,
    });
    expect(JSON.parse(JSON.stringify(invalid))).toMatchObject({ code: 'INVALID_EVENT', eventIndex: 2, problem: 'data.<key 0> is a function' });
    // The caller's values are there for code that asks.
    expect(wrong).toMatchObject({ streamId, expected: 3, actual: 1 });
    expect(conflict).toMatchObject({ eventId, streamId, storedStreamId: `${streamId}:stored` });
    expect(invalid).toMatchObject({ streamId, eventId, eventIndex: 2 });
    expect((invalidId as InvalidEventError).eventId).toBe(secret);
    expect(invalidId!.message).toBe(
      `event 2 (id a string of ${secret.length} characters) of stream (a string of ${streamId.length} characters): id is not a UUID`,
    );
    expect((streamError as InvalidStreamIdError).streamId).toBe(secret);
    expect((versionError as InvalidExpectedVersionError).expectedVersion).toBe(secret);
    expect(optionError).toMatchObject({ option: 'after', value: secret });
  });
});
