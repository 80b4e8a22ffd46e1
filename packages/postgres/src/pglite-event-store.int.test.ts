import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredEvent } from '@buckley/events';
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
