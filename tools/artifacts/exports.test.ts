// Runs in the artifact tier's temporary project (tools/test-artifacts.mjs), against the installed
// tarballs: every `@buckley/*` import here loads a package's `dist`.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const packages: string[] = JSON.parse(readFileSync(join(import.meta.dirname, '../packages.json'), 'utf8'));

interface Entry {
  readonly specifier: string;
  readonly types: string;
}

function entries(name: string): Entry[] {
  const manifestPath = require.resolve(`${name}/package.json`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports: Record<string, string | { types: string }> };
  return Object.entries(manifest.exports)
    .filter(([key]) => key !== './package.json')
    .map(([key, target]) => {
      if (typeof target === 'string') throw new Error(`${name} export ${key} has no types condition`);
      return { specifier: key === '.' ? name : `${name}/${key.slice(2)}`, types: join(dirname(manifestPath), target.types) };
    });
}

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
};

describe('every export of every published entry point', () => {
  for (const name of packages) {
    it(`${name}: each entry imports, exports only defined values and ships its types`, async () => {
      for (const entry of entries(name)) {
        const module = (await import(entry.specifier)) as Record<string, unknown>;
        const names = Object.keys(module);
        expect(names.length, entry.specifier).toBeGreaterThan(0);
        for (const exported of names) expect(module[exported], `${entry.specifier} ${exported}`).toBeDefined();
        expect(existsSync(entry.types), entry.types).toBe(true);
      }
    });

    it(`${name}: a name exported by several entry points is one object`, async () => {
      const seen = new Map<string, { value: unknown; from: string }>();
      for (const entry of entries(name)) {
        const module = (await import(entry.specifier)) as Record<string, unknown>;
        for (const [exported, value] of Object.entries(module)) {
          const first = seen.get(exported);
          if (first === undefined) seen.set(exported, { value, from: entry.specifier });
          else expect(value === first.value, `${exported} of ${entry.specifier} is not the one of ${first.from}`).toBe(true);
        }
      }
    });
  }
});

describe('instanceof across entry points and packages', () => {
  it('@buckley/events/adapter throws the classes of @buckley/events, which extend the BuckleyError of @buckley/utils', async () => {
    const events = await import('@buckley/events');
    const adapter = await import('@buckley/events/adapter');
    const utils = await import('@buckley/utils');
    const options = adapter.resolveStoreOptions({});
    const error = thrown(() => adapter.prepareAppends([{ streamId: 'session:1', events: [{ type: 'x', data: { f: () => 1 } as never }] }], options));
    expect(error).toBeInstanceOf(events.InvalidEventError);
    expect(error).toBeInstanceOf(events.EventStoreError);
    expect(error).toBeInstanceOf(utils.BuckleyError);
    expect(thrown(() => adapter.assertStreamId(''))).toBeInstanceOf(events.InvalidStreamIdError);
    expect(thrown(() => adapter.resolveStoreOptions({ partition: '' }))).toBeInstanceOf(events.InvalidEventStoreOptionError);
  });

  it('@buckley/bus/adapter throws the classes of @buckley/bus', async () => {
    const bus = await import('@buckley/bus');
    const adapter = await import('@buckley/bus/adapter');
    expect(thrown(() => adapter.assertHeaders({ 'bad name': 'x' }))).toBeInstanceOf(bus.InvalidHeaderError);
    const reported: unknown[] = [];
    const dispatcher = new adapter.SerialDispatcher(
      's',
      () => new Promise(() => undefined),
      (error) => void reported.push(error),
      1,
    );
    const message = { subject: 's' } as never;
    for (let n = 0; n < 3; n++) dispatcher.push(message);
    expect(reported[0]).toBeInstanceOf(bus.SlowConsumerError);
    expect(reported[0]).toBeInstanceOf(bus.BusError);
  });

  it('@buckley/coordination/adapter throws the classes of @buckley/coordination', async () => {
    const coordination = await import('@buckley/coordination');
    const adapter = await import('@buckley/coordination/adapter');
    const { createInMemoryEventStore } = await import('@buckley/events');
    const table = { reserve: async () => undefined } as never;
    expect(thrown(() => adapter.createTaskCoordinatorCore({ store: createInMemoryEventStore(), table, leaseMs: -1 }))).toBeInstanceOf(
      coordination.InvalidTaskError,
    );
  });
});
