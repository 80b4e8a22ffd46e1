// Runs in the artifact tier's temporary project (tools/test-artifacts.mjs): the conformance
// suites of @buckley/testing against the adapters as built and installed from their tarballs.
import { createInMemoryBus } from '@buckley/bus';
import { createInMemoryTaskCoordinator } from '@buckley/coordination';
import { InvalidEventError, WrongExpectedVersionError, createInMemoryEventStore, isInvalidEventError } from '@buckley/events';
import { createPGliteEventStore, createPostgresTaskCoordinator } from '@buckley/postgres';
import { Kysely, PGliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBusConformance, describeEventStoreConformance, describeTaskCoordinatorConformance } from '../suites/index.ts';
import { createTestPGlite } from '../suites/postgres.ts';

let pglite: Awaited<ReturnType<typeof createTestPGlite>>;
beforeAll(async () => {
  pglite = await createTestPGlite();
});
afterAll(async () => {
  await pglite?.close();
});

describeEventStoreConformance({ name: 'in-memory (dist)', create: (options) => createInMemoryEventStore(options) });
describeEventStoreConformance({ name: 'pglite (dist)', create: (options) => createPGliteEventStore({ ...options, pglite, pollMs: 200 }) });

const server = createInMemoryBus();
describeBusConformance({ name: 'InMemoryBus (dist)', prefix: 'mem', create: async () => server.connect() });

describeTaskCoordinatorConformance({
  name: 'in-memory (dist)',
  create: ({ store, clock, leaseMs, retry }) => createInMemoryTaskCoordinator({ store, clock, leaseMs, retry }),
});
describeTaskCoordinatorConformance({
  name: 'pglite (dist)',
  createStore: (testId) => createPGliteEventStore({ pglite, partition: testId, pollMs: 200 }),
  create: ({ store, clock, leaseMs, retry }) =>
    createPostgresTaskCoordinator({ db: new Kysely({ dialect: new PGliteDialect({ pglite }) }), store, clock, leaseMs, retry }),
});

describe('the built PGlite store', () => {
  it('throws the classes of @buckley/events', async () => {
    await using store = await createPGliteEventStore({ pglite, partition: 'instanceof' });
    const error = await store.append('session:1', [{ type: 'x', data: { n: Number.NaN } }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidEventError);
    expect(isInvalidEventError(error)).toBe(true);
    await store.append('session:1', [{ type: 'x', data: {} }]);
    const stale = await store.append('session:1', [{ type: 'x', data: {} }], { expectedVersion: 0 }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(WrongExpectedVersionError);
  });
});
