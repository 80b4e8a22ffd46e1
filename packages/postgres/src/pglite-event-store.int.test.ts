import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidEventStoreOptionError, type StoredEvent } from '@buckley/events';
import { describeEventStoreConformance, describeOutcomeQueryConformance } from '@buckley/testing';
import { createTestPGlite } from '@buckley/testing/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPGliteEventStore } from './index.js';

let pglite: Awaited<ReturnType<typeof createTestPGlite>>;
beforeAll(async () => {
  pglite = await createTestPGlite();
});
afterAll(async () => {
  await pglite?.close();
});

describeEventStoreConformance({
  name: 'pglite',
  create: (options) => createPGliteEventStore({ ...options, pglite, pollMs: 200 }),
});

describeOutcomeQueryConformance({
  name: 'pglite',
  create: (options) => createPGliteEventStore({ ...options, pglite }),
});

describe('PGlite event store', () => {
  it('keeps events in its data directory across reopening, and leaves a caller-owned PGlite open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'buckley-pglite-'));
    try {
      {
        await using store = await createPGliteEventStore({ dataDir: dir });
        await store.append('session:1', [{ type: 'session.started', data: { n: 1 } }]);
      }
      await using reopened = await createPGliteEventStore({ dataDir: dir });
      expect((await reopened.read('session:1')).map((e) => e.data)).toEqual([{ n: 1 }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const store = await createPGliteEventStore({ pglite, partition: 'owned-check' });
    await store.close();
    expect(pglite.closed).toBe(false);
    expect((await pglite.query<{ one: number }>('select 1 as one')).rows[0]!.one).toBe(1);
    // Two cold PGlite starts on disk: slow on a loaded machine.
  }, 300_000);

  it('refuses a migrate that is not a boolean, an unknown key and a pglite of the wrong shape, before touching the database', async () => {
    const schema = 'refused_options';
    const refusals: Array<[unknown, string, RegExp]> = [
      [{ pglite, schema, migrate: 'no' }, 'migrate', /^migrate \(a string of 2 characters\) is invalid, expected true or false/],
      [
        { pglite, schema, pool: {} },
        'pool',
        /^pool \(an unknown option\) is invalid, expected only the options partition, maxEventBytes, now, schema, migrate, pollMs, pglite, dataDir$/,
      ],
      [{ pglite: { query: 1 }, schema }, 'pglite', /^pglite \(an object\) is invalid, expected a PGlite/],
      ['.buckley/data', 'options', /^options \(a string of 13 characters\) is invalid, expected an object/],
    ];
    for (const [options, option, message] of refusals) {
      const error = await createPGliteEventStore(options as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidEventStoreOptionError);
      expect(error).toMatchObject({ option });
      expect((error as Error).message).toMatch(message);
    }
    const found = await pglite.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema]);
    expect(found.rows).toEqual([]);
  });

  it('wakes a live subscription through PGlite notifications from another store on the same database', async () => {
    await using reader = await createPGliteEventStore({ pglite, partition: 'notify', pollMs: 60_000 });
    await using writer = await createPGliteEventStore({ pglite, partition: 'notify', pollMs: 60_000 });
    const got: StoredEvent[] = [];
    await using sub = await reader.subscribe({ from: 'end', handler: (e) => void got.push(e) });
    const started = Date.now();
    await writer.append('s', [{ type: 'test.ping', data: {} }]);
    while (got.length === 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 5));
    // With a 60 s poll, only a notification can deliver this quickly.
    expect(got.map((e) => e.type)).toEqual(['test.ping']);
    expect(Date.now() - started).toBeLessThan(5000);
    void sub;
  });
});
