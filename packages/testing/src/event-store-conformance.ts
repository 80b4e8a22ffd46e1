// The suite registers its cases from a table, so titles are variables and assertions live in the cases.
/* oxlint-disable vitest/expect-expect, vitest/valid-title */
import { checkSkips, expectNoSecret, rejected } from './errors.js';
import {
  EventIdConflictError,
  type EventFilter,
  type EventStore,
  EventStoreErrorCode,
  type EventStoreOptions,
  InvalidEventError,
  InvalidEventStoreOptionError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  type NewEvent,
  type StoredEvent,
  type Subscription,
  WrongExpectedVersionError,
  eventPosition,
  isEventStoreError,
} from '@buckley/events';
import { AbortedError, ClosedError, isClosedError, uuidv7 } from '@buckley/utils';
import { describe, expect, it } from 'vitest';

/** Options of {@link describeEventStoreConformance}. */
export interface EventStoreConformanceOptions {
  /** Names the adapter in the test report. */
  readonly name: string;
  /**
   * Makes a store for one test. The suite passes a fresh `partition` per test so adapters
   * over a shared database stay isolated; honour it and any other option given.
   */
  readonly create: (options: EventStoreOptions & { partition: string }) => Promise<EventStore> | EventStore;
  /** Tests this adapter does not run, by test name, each with the reason. */
  readonly skip?: Readonly<Record<string, string>>;
  /** Longest wait for an asynchronous delivery, in milliseconds; default 10 000. */
  readonly timeoutMs?: number;
  /**
   * Opens a transaction of the adapter's backend that stays open until `commit()`, with a
   * store that appends inside it: for adapters where one transaction can stay open while
   * others commit (Postgres). Adapters with one writer at a time (in-memory, PGlite) leave it
   * out, and the gap-safety test then checks every cursor without a held transaction.
   */
  readonly openTransaction?: (options: EventStoreOptions & { partition: string }) => Promise<HeldTransaction>;
}

/** A backend transaction held open by a conformance test (see {@link EventStoreConformanceOptions.openTransaction}). */
export interface HeldTransaction extends AsyncDisposable {
  /** Appends inside the held transaction. */
  readonly store: EventStore;
  commit(): Promise<void>;
  /** Ends the transaction without committing; a no-op after `commit()`. Also what dispose does. */
  rollback(): Promise<void>;
}

type Open = (options?: EventStoreOptions) => Promise<EventStore>;
type Case = (open: Open, ctx: { timeoutMs: number; hold: (() => Promise<HeldTransaction>) | undefined }) => Promise<void>;

const ev = (type: string, data: Record<string, unknown> = {}, extra: Partial<NewEvent> = {}): NewEvent => ({ type, data, ...extra }) as NewEvent;

const stream = (prefix = 'test') => `${prefix}:${uuidv7()}`;

/**
 * Waits until the global log shows `count` events. A gap-safe store (Postgres) only shows a
 * committed event once every older transaction on the server has ended, and other test files
 * write to the same server at the same time: a global read right after an append may lag.
 */
async function logHolds(store: EventStore, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = (await store.readAll({ limit: 100_000 })).length;
    if (seen >= count || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Polls `check` until it stops throwing, or fails after `timeoutMs`. */
async function eventually(check: () => void, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

const t = (iso: string) => new Date(iso);

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function expectNothingWritten(store: EventStore, ...streams: string[]): Promise<void> {
  for (const s of streams) {
    expect(await store.read(s)).toEqual([]);
    expect(await store.streamVersion(s)).toBe(0);
  }
  expect(await store.readAll()).toEqual([]);
}

/**
 * The events with plain positions: `append()` may return `<position>~<horizon>` when another
 * transaction (another test, another process) was open as it committed; reads return the plain one.
 */
function plainPositions(events: readonly StoredEvent[]): StoredEvent[] {
  return events.map((e) => ({ ...e, position: eventPosition(e.position) }));
}

/** `depth` arrays, one inside the other. */
function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

const cases: Record<string, Case> = {
  'append assigns versions 1..n and returns the stored events': async (open) => {
    await using store = await open();
    const s = stream();
    const id = uuidv7();
    const before = Date.now();
    const stored = await store.append(s, [ev('test.one', { n: 1 }, { id }), ev('test.two'), ev('test.three')]);
    expect(stored.map((e) => e.version)).toEqual([1, 2, 3]);
    expect(stored[0]!.id).toBe(id);
    expect(stored[1]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(stored.map((e) => e.type)).toEqual(['test.one', 'test.two', 'test.three']);
    for (const e of stored) {
      expect(e.streamId).toBe(s);
      expect(e.partition).toBe(store.partition);
      expect(e.position).toMatch(/^[1-9]\d*(~\d+)?$/);
      expect(eventPosition(e.position)).toMatch(/^[1-9]\d*$/);
      expect(e.metadata).toEqual({});
      expect(e.occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Date.parse(e.occurredAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(e.recordedAt).toMatch(/Z$/);
    }
    const positions = stored.map((e) => BigInt(eventPosition(e.position)));
    expect(positions[1]! > positions[0]! && positions[2]! > positions[1]!).toBe(true);
    // A read returns the same events; append's positions may carry a `~<horizon>` suffix when
    // another transaction (another test, another process) was open as it committed.
    expect(await store.read(s)).toEqual(plainPositions(stored));
    expect(await store.streamVersion(s)).toBe(3);
  },

  'a second append continues at the next version': async (open) => {
    await using store = await open();
    const s = stream();
    await store.append(s, [ev('test.a'), ev('test.b')]);
    const more = await store.append(s, [ev('test.c')]);
    expect(more.map((e) => e.version)).toEqual([3]);
    expect((await store.read(s)).map((e) => e.type)).toEqual(['test.a', 'test.b', 'test.c']);
  },

  'read is inclusive of fromVersion, honours limit and reads backward': async (open) => {
    await using store = await open();
    const s = stream();
    await store.append(
      s,
      [1, 2, 3, 4, 5].map((n) => ev('test.n', { n })),
    );
    const versions = async (o: Parameters<EventStore['read']>[1]) => (await store.read(s, o)).map((e) => e.version);
    expect(await versions({ fromVersion: 3 })).toEqual([3, 4, 5]);
    expect(await versions({ fromVersion: 0 })).toEqual([1, 2, 3, 4, 5]);
    expect(await versions({ fromVersion: 1 })).toEqual([1, 2, 3, 4, 5]);
    expect(await versions({ fromVersion: 6 })).toEqual([]);
    expect(await versions({ fromVersion: 2, limit: 2 })).toEqual([2, 3]);
    expect(await versions({ direction: 'backward' })).toEqual([5, 4, 3, 2, 1]);
    expect(await versions({ direction: 'backward', fromVersion: 3, limit: 2 })).toEqual([3, 2]);
    for (const bad of [{ limit: 0 }, { limit: 1.5 }, { fromVersion: -1 }, { direction: 'sideways' }]) {
      expect(await rejected(store.read(s, bad as never))).toBeInstanceOf(InvalidEventStoreOptionError);
    }
  },

  'an unknown stream reads as empty and creates nothing': async (open) => {
    await using store = await open();
    const s = stream();
    expect(await store.read(s)).toEqual([]);
    expect(await store.read(s, { direction: 'backward' })).toEqual([]);
    expect(await store.streamVersion(s)).toBe(0);
    expect(await store.loadSnapshot(s)).toBeUndefined();
    expect(await store.readAll()).toEqual([]);
    // A stream read earlier still counts as new for 'no_stream'.
    const [first] = await store.append(s, [ev('test.first')], { expectedVersion: 'no_stream' });
    expect(first!.version).toBe(1);
  },

  'an empty append is a no-op': async (open) => {
    await using store = await open();
    const s = stream();
    expect(await store.append(s, [])).toEqual([]);
    expect(await store.append(s, [], { expectedVersion: 'no_stream' })).toEqual([]);
    await expectNothingWritten(store, s);
  },

  'data, metadata and occurredAt round-trip exactly': async (open) => {
    await using store = await open();
    const s = stream();
    const data = {
      text: 'héllo ✓ "quoted" \\ back',
      int: 42,
      negative: -7,
      float: 3.25,
      big: 9007199254740991,
      yes: true,
      no: false,
      nothing: null,
      list: [1, 'two', null, [3], { four: 4 }],
      nested: { deep: { deeper: { deepest: 'x' } } },
      empty: {},
      emptyList: [],
    };
    const metadata = {
      sessionId: 's1',
      planId: 'p1',
      taskId: 't1',
      experimentId: 'e1',
      modelId: 'm1',
      toolName: 'shell',
      agentId: 'a1',
      attempt: 2,
      outcome: 'failure' as const,
      durationMs: 12.5,
      correlationId: 'c1',
      causationId: uuidv7(),
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      nodeId: 'node-1',
      custom: { any: ['json'] },
    };
    const occurredAt = '2026-03-04T05:06:07.891Z';
    const [stored] = await store.append(s, [ev('test.data', data, { metadata, occurredAt: new Date(occurredAt) })]);
    expect(stored!.data).toEqual(data);
    expect(stored!.metadata).toEqual(metadata);
    expect(stored!.occurredAt).toBe(occurredAt);
    const [read] = await store.read(s);
    expect(read!.data).toEqual(data);
    expect(read!.metadata).toEqual(metadata);
    expect(read!.occurredAt).toBe(occurredAt);
    const [fromString] = await store.append(s, [ev('test.data', {}, { occurredAt: '2026-03-04T06:06:07.891+01:00' })]);
    expect(fromString!.occurredAt).toBe(occurredAt);
  },

  'stored data is a copy of what was appended': async (open) => {
    await using store = await open();
    const s = stream();
    const data = { list: [1, 2], inner: { n: 1 } };
    await store.append(s, [ev('test.copy', data)]);
    data.list.push(3);
    data.inner.n = 99;
    const [read] = await store.read(s);
    expect(read!.data).toEqual({ list: [1, 2], inner: { n: 1 } });
  },

  'expectedVersion: exact, no_stream, exists and any': async (open) => {
    await using store = await open();
    const s = stream();
    expect(await rejected(store.append(s, [ev('test.x')], { expectedVersion: 'exists' }))).toBeInstanceOf(WrongExpectedVersionError);
    await store.append(s, [ev('test.x')], { expectedVersion: 0 });
    await store.append(s, [ev('test.x')], { expectedVersion: 1 });
    await store.append(s, [ev('test.x')], { expectedVersion: 'exists' });
    await store.append(s, [ev('test.x')], { expectedVersion: 'any' });
    const error = await rejected(store.append(s, [ev('test.x')], { expectedVersion: 2 }));
    expect(error).toBeInstanceOf(WrongExpectedVersionError);
    expect(error).toMatchObject({ code: EventStoreErrorCode.WrongExpectedVersion, streamId: s, expected: 2, actual: 4 });
    expect((error as Error).message).toBe(`stream (a string of ${s.length} characters) is at version 4, expected version 2`);
    const noStream = await rejected(store.append(s, [ev('test.x')], { expectedVersion: 'no_stream' }));
    expect(noStream).toMatchObject({ expected: 'no_stream', actual: 4 });
    expect(await store.streamVersion(s)).toBe(4);
  },

  'unknown expectedVersion values throw a typed error and write nothing': async (open) => {
    await using store = await open();
    const s = stream();
    for (const bad of [-1, 1.5, Number.NaN, 'nope', null, '1', {}]) {
      const error = await rejected(store.append(s, [ev('test.x')], { expectedVersion: bad as never }));
      expect(error).toBeInstanceOf(InvalidExpectedVersionError);
      expect((error as Error).message).toMatch(/^expectedVersion \((null|an? [a-z]+[^)]*)\) is invalid, expected /);
    }
    await expectNothingWritten(store, s);
  },

  'empty and malformed stream ids throw a typed error': async (open) => {
    await using store = await open();
    for (const bad of ['', ' ', 'a b', 'tab\there', 'line\nbreak', 'nul\u0000', 'x'.repeat(257), 42, undefined, null]) {
      for (const call of [() => store.append(bad as string, [ev('test.x')]), () => store.read(bad as string), () => store.streamVersion(bad as string)]) {
        const error = await rejected(call());
        expect(error).toBeInstanceOf(InvalidStreamIdError);
        expect(error).toMatchObject({ code: EventStoreErrorCode.InvalidStreamId });
      }
    }
    // Punctuation used by real ids is fine.
    for (const good of ['session:01J', 'plan:2026-01-01-slug', 'tool_call:x.y/z@1', 'system', 'x'.repeat(256)]) {
      await store.append(good, [ev('test.ok')]);
    }
    await logHolds(store, 5);
    expect(await store.readAll()).toHaveLength(5);
  },

  'events that are not plain JSON are rejected with the event and the problem; the batch writes nothing': async (open) => {
    await using store = await open();
    const s = stream();
    const other = stream();
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const bad: Array<[unknown, string]> = [
      [null, 'data must be a plain JSON object, got null'],
      [[1, 2], 'data must be a plain JSON object, got an array of 2 items'],
      ['text', 'data must be a plain JSON object'],
      [new Date(0), 'data must be a plain JSON object, got a Date object'],
      [{ when: new Map() }, 'data.<key 0> is a Map object, not a plain object'],
      [cyclic, 'data.<key 1> is a cycle'],
      [{ n: 10n }, 'data.<key 0> is a BigInt'],
      [{ ok: 1, fn: () => 1 }, 'data.<key 1> is a function'],
      [{ gone: undefined }, 'data.<key 0> is undefined'],
      [{ list: [1, undefined] }, 'data.<key 0>[1] is undefined'],
      [{ nan: Number.NaN }, 'data.<key 0> is NaN'],
      [{ inf: Number.POSITIVE_INFINITY }, 'data.<key 0> is Infinity'],
      [{ text: 'nul\u0000byte' }, 'data.<key 0> contains a NUL character'],
      [{ text: 'lone \ud800 surrogate' }, 'data.<key 0> contains a lone surrogate'],
      [{ ['key \udfff']: 1 }, 'data.<key 0> is a key with a lone surrogate'],
      // Deeper than any event needs, and deep enough to overflow a recursive check's stack.
      [{ deep: nested(5_000) }, 'data nests objects and arrays deeper than 512 levels'],
    ];
    for (const [data, problem] of bad) {
      const error = await rejected(
        store.appendToStreams([
          { streamId: other, events: [ev('test.fine')] },
          { streamId: s, events: [ev('test.ok'), ev('test.bad', data as never)] },
        ]),
      );
      expect(error).toBeInstanceOf(InvalidEventError);
      expect(error).toMatchObject({ code: EventStoreErrorCode.InvalidEvent, streamId: s, eventIndex: 1 });
      expect((error as InvalidEventError).problem).toContain(problem);
      expect((error as Error).message).toMatch(new RegExp(`^event 1 \\(id "[0-9a-f-]{36}"\\) of stream \\(a string of ${s.length} characters\\): `));
    }
    await expectNothingWritten(store, s, other);
  },

  'malformed ids, types, fields and metadata are rejected; the batch writes nothing': async (open) => {
    await using store = await open();
    const s = stream();
    const bad: Array<[unknown, string]> = [
      [{ type: 'test.x', data: {}, id: 'not-a-uuid' }, 'id (a string of 10 characters) is not'],
      [{ type: 'Test.Upper', data: {} }, 'type (a string of 10 characters) is invalid'],
      [{ type: '', data: {} }, 'type (a string of 0 characters) is invalid'],
      [{ type: 'test.x', data: {}, version: 3 }, 'has a field other than id, type, data, metadata, occurredAt'],
      [{ type: 'test.x', data: {}, metadata: { outcome: 'maybe' } }, 'metadata.outcome (a string of 5 characters) is invalid'],
      [{ type: 'test.x', data: {}, metadata: { attempt: 0 } }, 'metadata.attempt (a number) is invalid'],
      [{ type: 'test.x', data: {}, metadata: { sessionId: 7 } }, 'metadata.sessionId (a number) is invalid'],
      [{ type: 'test.x', data: {}, metadata: { extra: () => 1 } }, 'metadata.<key 0> is a function'],
      [{ type: 'test.x', data: {}, occurredAt: 'yesterday' }, 'occurredAt (a string of 9 characters) is not'],
      [{ type: 'test.x', data: {}, occurredAt: new Date(Number.NaN) }, 'occurredAt'],
      ['not an object', 'must be a plain object'],
    ];
    for (const [event, problem] of bad) {
      const error = await rejected(store.append(s, [ev('test.ok'), event as NewEvent]));
      expect(error).toBeInstanceOf(InvalidEventError);
      expect((error as InvalidEventError).problem).toContain(problem);
      expect((error as InvalidEventError).eventIndex).toBe(1);
    }
    const id = uuidv7();
    const dup = await rejected(store.append(s, [ev('test.a', {}, { id }), ev('test.b', {}, { id })]));
    expect(dup).toBeInstanceOf(InvalidEventError);
    expect((dup as InvalidEventError).problem).toContain('twice');
    await expectNothingWritten(store, s);
  },

  'an event larger than the size limit is rejected (default 1 MiB, configurable)': async (open) => {
    {
      await using store = await open();
      const s = stream();
      const error = await rejected(store.append(s, [ev('test.ok'), ev('test.big', { blob: 'x'.repeat(1024 * 1024) })]));
      expect(error).toBeInstanceOf(InvalidEventError);
      expect((error as InvalidEventError).problem).toMatch(/serialise to \d+ bytes, more than the limit of 1048576/);
      await expectNothingWritten(store, s);
      const [fits] = await store.append(s, [ev('test.big', { blob: 'x'.repeat(1024 * 1024 - 100) })]);
      expect((fits!.data.blob as string).length).toBe(1024 * 1024 - 100);
    }
    await using small = await open({ maxEventBytes: 100 });
    const s = stream();
    expect(await rejected(small.append(s, [ev('test.big', { blob: 'x'.repeat(100) })]))).toBeInstanceOf(InvalidEventError);
    expect(await small.read(s)).toEqual([]);
    expect(await small.streamVersion(s)).toBe(0);
  },

  'a subscription given an already aborted signal is closed at once and delivers nothing': async (open) => {
    await using store = await open();
    const s = stream();
    await store.append(s, [ev('test.a')]);
    const seen: StoredEvent[] = [];
    const errors: unknown[] = [];
    const onUnhandled = (error: unknown) => void errors.push(error);
    process.on('uncaughtException', onUnhandled);
    try {
      for (const options of [{}, { streamId: s }]) {
        const sub = await store.subscribe({ ...options, signal: AbortSignal.abort(), handler: (e) => void seen.push(e) });
        expect(sub.closed).toBe(true);
        const iterated = await store.subscribe({ ...options, signal: AbortSignal.abort() });
        for await (const e of iterated) seen.push(e);
      }
      await delay(50);
    } finally {
      process.off('uncaughtException', onUnhandled);
    }
    expect(seen).toEqual([]);
    expect(errors).toEqual([]);
  },

  'an already aborted signal rejects and writes nothing': async (open) => {
    await using store = await open();
    const s = stream();
    const controller = new AbortController();
    controller.abort();
    const error = await rejected(store.append(s, [ev('test.x')], { signal: controller.signal }));
    expect(error).toBeInstanceOf(AbortedError);
    expect(await rejected(store.appendToStreams([{ streamId: s, events: [ev('test.x')] }], { signal: controller.signal }))).toBeInstanceOf(AbortedError);
    expect(await rejected(store.read(s, { signal: controller.signal }))).toBeInstanceOf(AbortedError);
    expect(await rejected(store.readAll({ signal: controller.signal }))).toBeInstanceOf(AbortedError);
    await expectNothingWritten(store, s);
  },

  'appending an event whose id is stored returns the stored event and writes nothing': async (open) => {
    await using store = await open();
    const s = stream();
    const ids = [uuidv7(), uuidv7()];
    const first = await store.append(s, [ev('test.a', { n: 1 }, { id: ids[0] }), ev('test.b', {}, { id: ids[1] })], {
      expectedVersion: 'no_stream',
    });
    // A retry of the same call, even with its now-stale expected version, returns the same events.
    const again = await store.append(s, [ev('test.a', { n: 1 }, { id: ids[0] }), ev('test.b', {}, { id: ids[1] })], {
      expectedVersion: 'no_stream',
    });
    expect(plainPositions(again)).toEqual(plainPositions(first));
    await logHolds(store, 2);
    expect(await store.readAll()).toEqual(plainPositions(first));
    // Mixed: the stored one comes back as is, the new one is appended after it.
    const mixed = await store.append(s, [ev('test.a', { n: 1 }, { id: ids[0] }), ev('test.c')]);
    expect(plainPositions(mixed)[0]).toEqual(plainPositions(first)[0]);
    expect(mixed[1]!.version).toBe(3);
    expect(await store.streamVersion(s)).toBe(3);
  },

  'an event id stored in another stream is refused with both streams named; the call writes nothing': async (open) => {
    await using store = await open();
    const a = stream('a');
    const b = stream('b');
    const id = uuidv7();
    const [first] = await store.append(a, [ev('test.a', {}, { id })]);
    const error = await rejected(store.append(b, [ev('test.b', {}, { id })]));
    expect(error).toBeInstanceOf(EventIdConflictError);
    expect(error).toMatchObject({ code: EventStoreErrorCode.EventIdConflict, eventId: id, streamId: b, storedStreamId: a });
    // The fields name both streams; the message shows only the id and the streams' sizes.
    expect((error as Error).message).toBe(
      `event id "${id}" is stored in another stream (a string of ${a.length} characters), it cannot be appended to stream (a string of ${b.length} characters)`,
    );
    // With new events beside it, in one stream or across streams: nothing of the call is written.
    const c = stream('c');
    expect(await rejected(store.append(b, [ev('test.new'), ev('test.b', {}, { id })]))).toBeInstanceOf(EventIdConflictError);
    expect(
      await rejected(
        store.appendToStreams([
          { streamId: c, events: [ev('test.new')] },
          { streamId: b, events: [ev('test.b', {}, { id })], expectedVersion: 'no_stream' },
        ]),
      ),
    ).toBeInstanceOf(EventIdConflictError);
    expect(await store.read(b)).toEqual([]);
    expect(await store.read(c)).toEqual([]);
    await logHolds(store, 1);
    expect(await store.readAll()).toEqual([first]);
    // In its own stream the same id is still an idempotent retry.
    expect(await store.append(a, [ev('test.a', {}, { id })])).toEqual([first]);
  },

  'a multi-stream retry with some ids stored appends only the new events, in order': async (open) => {
    await using store = await open();
    const a = stream('a');
    const b = stream('b');
    const stored = [uuidv7(), uuidv7()];
    const [, first] = await store.appendToStreams([
      { streamId: a, events: [ev('test.a1')] },
      { streamId: b, events: [ev('test.b1', {}, { id: stored[0] }), ev('test.b2', {}, { id: stored[1] })] },
    ]);
    // b's second event is stored already; a gets two new events, b one new and one stored.
    const [sa, sb] = await store.appendToStreams([
      { streamId: a, events: [ev('test.a2'), ev('test.a3')], expectedVersion: 1 },
      { streamId: b, events: [ev('test.b3'), ev('test.b2', {}, { id: stored[1] })], expectedVersion: 2 },
    ]);
    expect(sa!.map((e) => [e.type, e.version])).toEqual([
      ['test.a2', 2],
      ['test.a3', 3],
    ]);
    expect(sb!.map((e) => [e.type, e.version])).toEqual([
      ['test.b3', 3],
      ['test.b2', 2],
    ]);
    expect(plainPositions(sb!)[1]).toEqual(plainPositions(first!)[1]);
    expect((await store.read(b)).map((e) => e.type)).toEqual(['test.b1', 'test.b2', 'test.b3']);
    expect((await store.read(a)).map((e) => e.type)).toEqual(['test.a1', 'test.a2', 'test.a3']);
  },

  'a multi-stream append is atomic': async (open) => {
    await using store = await open();
    const a = stream('a');
    const b = stream('b');
    await store.append(b, [ev('test.b1')]);
    const error = await rejected(
      store.appendToStreams([
        { streamId: a, events: [ev('test.a1'), ev('test.a2')], expectedVersion: 'no_stream' },
        { streamId: b, events: [ev('test.b2')], expectedVersion: 'no_stream' },
      ]),
    );
    expect(error).toMatchObject({ code: EventStoreErrorCode.WrongExpectedVersion, streamId: b, actual: 1 });
    expect(await store.read(a)).toEqual([]);
    expect(await store.streamVersion(b)).toBe(1);
    const [sa, sb] = await store.appendToStreams([
      { streamId: a, events: [ev('test.a1'), ev('test.a2')], expectedVersion: 'no_stream' },
      { streamId: b, events: [ev('test.b2')], expectedVersion: 1 },
    ]);
    expect(sa!.map((e) => e.version)).toEqual([1, 2]);
    expect(sb!.map((e) => e.version)).toEqual([2]);
    await logHolds(store, 4);
    expect((await store.readAll()).map((e) => e.type)).toEqual(['test.b1', 'test.a1', 'test.a2', 'test.b2']);
    const twice = await rejected(
      store.appendToStreams([
        { streamId: a, events: [ev('test.x')] },
        { streamId: a, events: [ev('test.y')] },
      ]),
    );
    expect(twice).toBeInstanceOf(InvalidEventStoreOptionError);
  },

  'ten concurrent appenders with "any" get versions 1..10 with no gap or duplicate': async (open) => {
    await using store = await open();
    const s = stream();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.append(s, [ev('test.n', { i })])));
    expect(results.map((r) => r[0]!.version).toSorted((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const read = await store.read(s);
    expect(read.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(read.map((e) => e.data.i)).size).toBe(10);
  },

  'ten concurrent appenders with the same expected version: exactly one wins': async (open) => {
    await using store = await open();
    const s = stream();
    await store.append(s, [ev('test.start')]);
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.append(s, [ev('test.n', { i })], { expectedVersion: 1 })));
    const won = settled.filter((r) => r.status === 'fulfilled');
    const lost = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(9);
    for (const r of lost) expect(r.reason).toBeInstanceOf(WrongExpectedVersionError);
    expect(await store.streamVersion(s)).toBe(2);
  },

  'concurrent appends to different streams do not interfere': async (open) => {
    await using store = await open();
    const streams = Array.from({ length: 10 }, () => stream());
    await Promise.all(streams.map((s) => Promise.all([1, 2, 3].map(() => store.append(s, [ev('test.n'), ev('test.m')])))));
    for (const s of streams) expect((await store.read(s)).map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
    await logHolds(store, 60);
    const all = await store.readAll();
    expect(all).toHaveLength(60);
    expect(new Set(all.map((e) => e.position)).size).toBe(60);
  },

  'readAll pages through the log by position': async (open) => {
    await using store = await open();
    const a = stream('a');
    const b = stream('b');
    for (let i = 0; i < 5; i++) {
      await store.append(a, [ev('test.a', { i })]);
      await store.append(b, [ev('test.b', { i })]);
    }
    await logHolds(store, 10);
    const all = await store.readAll();
    expect(all).toHaveLength(10);
    expect(all.map((e) => e.streamId)).toEqual([a, b, a, b, a, b, a, b, a, b]);
    const pages: StoredEvent[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.readAll({ after, limit: 3 });
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(3);
      pages.push(...page);
      after = page.at(-1)!.position;
    }
    expect(pages).toEqual(all);
    expect(await store.readAll({ after: all.at(-1)!.position })).toEqual([]);
    for (const bad of [{ after: '-1' }, { after: 'x' }, { after: 5 }, { limit: 0 }, { after: '999999999' }]) {
      expect(await rejected(store.readAll(bad as never))).toBeInstanceOf(InvalidEventStoreOptionError);
    }
    expect(await store.readAll({ after: '0' })).toEqual(all);
    // A cursor from another partition is not a position of this one.
    await using other = await open({ partition: `${store.partition}x` });
    // Enough events that the other partition's last position is past this one's, whether the
    // adapter numbers partitions from one sequence (Postgres) or separately (in-memory).
    const foreign = await other.append(
      a,
      Array.from({ length: all.length + 1 }, () => ev('test.other')),
    );
    const beyond = foreign.find(
      (e) => BigInt(eventPosition(e.position)) > BigInt(all.at(-1)!.position) && !all.some((x) => x.position === eventPosition(e.position)),
    );
    expect(beyond).toBeDefined();
    expect(await rejected(store.readAll({ after: beyond!.position }))).toBeInstanceOf(InvalidEventStoreOptionError);
    expect(await rejected(store.subscribe({ from: { after: '999999999' } }))).toBeInstanceOf(InvalidEventStoreOptionError);
  },

  'readAll filters by type, type prefix, attribution, outcome and time': async (open) => {
    await using store = await open();
    const s1 = stream('session');
    const s2 = stream('session');
    await store.append(s1, [
      ev('tool.run.started', {}, { metadata: { sessionId: 'S1', toolName: 'shell' }, occurredAt: t('2026-01-01T00:00:00.000Z') }),
      ev('tool.run.completed', {}, { metadata: { sessionId: 'S1', toolName: 'shell', outcome: 'success' }, occurredAt: t('2026-01-01T00:00:01.000Z') }),
      ev(
        'model.call.completed',
        {},
        { metadata: { sessionId: 'S1', modelId: 'gpt', outcome: 'success', planId: 'P' }, occurredAt: t('2026-01-01T00:00:02.000Z') },
      ),
    ]);
    await store.append(s2, [
      ev(
        'tool.run.failed',
        {},
        {
          metadata: { sessionId: 'S2', toolName: 'edit', outcome: 'failure', experimentId: 'E', agentId: 'A', taskId: 'T' },
          occurredAt: t('2026-01-01T00:00:03.000Z'),
        },
      ),
      ev('tool.runner.note', {}, { metadata: { sessionId: 'S2' }, occurredAt: t('2026-01-01T00:00:04.000Z') }),
    ]);
    await logHolds(store, 5);
    const types = async (filter: EventFilter) => (await store.readAll({ filter })).map((e) => e.type);
    expect(await types({ typePrefix: 'tool.run.' })).toEqual(['tool.run.started', 'tool.run.completed', 'tool.run.failed']);
    expect(await types({ typePrefix: ['model.', 'tool.runner.'] })).toEqual(['model.call.completed', 'tool.runner.note']);
    expect(await types({ types: ['tool.run.failed', 'model.call.completed'] })).toEqual(['model.call.completed', 'tool.run.failed']);
    expect(await types({ sessionId: 'S1' })).toHaveLength(3);
    expect(await types({ sessionId: 'S1', toolName: 'shell' })).toEqual(['tool.run.started', 'tool.run.completed']);
    expect(await types({ outcome: 'failure' })).toEqual(['tool.run.failed']);
    expect(await types({ outcome: ['success', 'failure'], typePrefix: 'tool.' })).toEqual(['tool.run.completed', 'tool.run.failed']);
    expect(await types({ planId: 'P' })).toEqual(['model.call.completed']);
    expect(await types({ modelId: 'gpt' })).toEqual(['model.call.completed']);
    expect(await types({ experimentId: 'E', agentId: 'A', taskId: 'T' })).toEqual(['tool.run.failed']);
    expect(await types({ sessionId: 'nobody' })).toEqual([]);
    expect(await types({ occurredFrom: '2026-01-01T00:00:01.000Z', occurredBefore: t('2026-01-01T00:00:03.000Z') })).toEqual([
      'tool.run.completed',
      'model.call.completed',
    ]);
    const page1 = await store.readAll({ filter: { sessionId: 'S1' }, limit: 2 });
    const page2 = await store.readAll({ filter: { sessionId: 'S1' }, limit: 2, after: page1.at(-1)!.position });
    expect([...page1, ...page2].map((e) => e.type)).toEqual(['tool.run.started', 'tool.run.completed', 'model.call.completed']);
    for (const bad of [{ outcome: 'maybe' }, { sessionId: '' }, { colour: 'red' }, { occurredFrom: 'soon' }, { types: [] }]) {
      expect(await rejected(store.readAll({ filter: bad as never }))).toBeInstanceOf(InvalidEventStoreOptionError);
    }
  },

  'snapshots: save per version, load the highest, fresh copies, typed errors': async (open) => {
    await using store = await open();
    const s = stream();
    expect(await store.loadSnapshot(s)).toBeUndefined();
    const state = { count: 10, items: ['a'] };
    await store.saveSnapshot(s, 10, state);
    state.items.push('mutated');
    const ten = await store.loadSnapshot(s);
    expect(ten).toMatchObject({ streamId: s, version: 10, state: { count: 10, items: ['a'] } });
    expect(ten!.savedAt).toMatch(/Z$/);
    await store.saveSnapshot(s, 30, { count: 30 });
    await store.saveSnapshot(s, 20, { count: 20 });
    expect((await store.loadSnapshot(s))!.state).toEqual({ count: 30 });
    await store.saveSnapshot(s, 30, { count: 31 });
    const loaded = await store.loadSnapshot(s);
    expect(loaded!.state).toEqual({ count: 31 });
    (loaded!.state as { count: number }).count = 0;
    expect((await store.loadSnapshot(s))!.state).toEqual({ count: 31 });
    await store.saveSnapshot(s, 1, [1, 'two']);
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    for (const [version, bad] of [
      [40, cyclic],
      [40, { n: 1n }],
      [40, nested(5_000)],
      [0, {}],
      [1.5, {}],
    ] as const) {
      expect(await rejected(store.saveSnapshot(s, version, bad as never))).toBeInstanceOf(InvalidEventStoreOptionError);
    }
    expect(await rejected(store.saveSnapshot('', 1, {}))).toBeInstanceOf(InvalidStreamIdError);
    expect((await store.loadSnapshot(s))!.version).toBe(30);
  },

  'calls after close reject with a typed error; close is idempotent': async (open) => {
    const store = await open();
    const s = stream();
    await store.append(s, [ev('test.x')]);
    await store.close();
    await store.close();
    await store[Symbol.asyncDispose]();
    const calls: Array<() => Promise<unknown>> = [
      () => store.append(s, [ev('test.x')]),
      () => store.appendToStreams([{ streamId: s, events: [ev('test.x')] }]),
      () => store.read(s),
      () => store.readAll(),
      () => store.streamVersion(s),
      () => store.subscribe(),
      () => store.saveSnapshot(s, 1, {}),
      () => store.loadSnapshot(s),
    ];
    for (const call of calls) {
      const error = await rejected(call());
      expect(error).toBeInstanceOf(ClosedError);
      expect(isClosedError(error)).toBe(true);
      expect((error as ClosedError).resource).toBe('event store');
    }
  },

  'no error quotes a caller value: a secret in stream ids, types, keys, values or filters reaches no message, stack, JSON or inspect output': async (open) => {
    // Shaped like a GitHub token; `text` has a space so it fails every id rule, `id` is a valid stream id.
    const token = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2'].join('_');
    const text = `${token} b`;
    const id = `session:${token}`;
    const fragments = [token, token.toLowerCase(), 'Planted0Secret'];
    await using store = await open();
    const stored = uuidv7();
    await store.append(id, [ev('test.a', {}, { id: stored })]);
    const calls: Record<string, () => Promise<unknown>> = {
      'append to a bad stream id': () => store.append(text, [ev('test.x')]),
      'read a bad stream id': () => store.read(text),
      'streamVersion of a bad stream id': () => store.streamVersion(text),
      'subscribe to a bad stream id': () => store.subscribe({ streamId: text }),
      'saveSnapshot of a bad stream id': () => store.saveSnapshot(text, 1, {}),
      'loadSnapshot of a bad stream id': () => store.loadSnapshot(text),
      'a wrong expected version': () => store.append(id, [ev('test.x')], { expectedVersion: 5 }),
      'a wrong expected version across streams': () =>
        store.appendToStreams([
          { streamId: stream(), events: [ev('test.x')] },
          { streamId: id, events: [ev('test.x')], expectedVersion: 'no_stream' },
        ]),
      'an event id stored in another stream': () => store.append(`${id}:other`, [ev('test.x', {}, { id: stored })]),
      'a bad event in a stream with a secret id': () => store.append(id, [ev('test.x', { n: Number.NaN })]),
      'a secret as the event type': () => store.append(id, [ev(text)]),
      'a secret as a valid-looking event type that is too long': () => store.append(id, [ev(`test.${token.toLowerCase().repeat(4)}`)]),
      'a secret as an unknown field of the event': () => store.append(id, [{ ...ev('test.x'), [text]: 1 } as NewEvent]),
      'a secret as the event id': () => store.append(id, [ev('test.x', {}, { id: text })]),
      'a secret as occurredAt': () => store.append(id, [ev('test.x', {}, { occurredAt: text })]),
      'a secret as a data key': () => store.append(id, [ev('test.x', { [text]: () => 1 })]),
      'a secret as a nested data key': () => store.append(id, [ev('test.x', { ok: { [token]: [1, undefined] } })]),
      'a secret in a data value with a NUL': () => store.append(id, [ev('test.x', { note: `${token}\u0000` })]),
      'a secret in a data value with a lone surrogate': () => store.append(id, [ev('test.x', { note: `${token} \ud800 tail` })]),
      'a secret in a data key with a lone surrogate': () => store.append(id, [ev('test.x', { [`${token}\udc00`]: 1 })]),
      'a secret as metadata.outcome': () => store.append(id, [ev('test.x', {}, { metadata: { outcome: text as never } })]),
      'a secret as metadata.attempt': () => store.append(id, [ev('test.x', {}, { metadata: { attempt: text as never } })]),
      'a secret as metadata.durationMs': () => store.append(id, [ev('test.x', {}, { metadata: { durationMs: text as never } })]),
      'a secret as a metadata key': () => store.append(id, [ev('test.x', {}, { metadata: { [text]: Number.POSITIVE_INFINITY } })]),
      'a secret as expectedVersion': () => store.append(id, [ev('test.x')], { expectedVersion: text as never }),
      'a stream with a secret id twice in one call': () =>
        store.appendToStreams([
          { streamId: id, events: [ev('test.x')] },
          { streamId: id, events: [ev('test.x')] },
        ]),
      'a secret as fromVersion, limit and direction': () => store.read(id, { fromVersion: text as never }),
      'a secret as a read limit': () => store.read(id, { limit: text as never }),
      'a secret as a read direction': () => store.read(id, { direction: text as never }),
      'a secret as the readAll cursor': () => store.readAll({ after: text }),
      'a secret as the readAll limit': () => store.readAll({ limit: text as never }),
      'a secret as a filter key': () => store.readAll({ filter: { [text]: 'x' } as never }),
      'a secret as a plain-identifier filter key': () => store.readAll({ filter: { [token]: 'x' } as never }),
      'a secret as a filter value': () => store.readAll({ filter: { sessionId: [text] } as never }),
      'a secret as a filter type': () => store.readAll({ filter: { types: [text] } }),
      'a secret as a filter outcome': () => store.readAll({ filter: { outcome: text as never } }),
      'a secret as a filter time': () => store.readAll({ filter: { occurredFrom: text } }),
      'a secret as a subscription cursor': () => store.subscribe({ from: { after: text } }),
      'a secret as a subscription start': () => store.subscribe({ from: text as never }),
      'a secret in a filter of a stream subscription': () => store.subscribe({ streamId: id, filter: { sessionId: text } }),
      'a secret as a log subscription filter key': () => store.subscribe({ filter: { [text]: 1 } as never }),
      'a secret as a snapshot version': () => store.saveSnapshot(id, text as never, {}),
      'a secret as a snapshot state key': () => store.saveSnapshot(id, 1, { [text]: 10n } as never),
      'a secret as the partition': () => open({ partition: text }),
    };
    for (const [what, call] of Object.entries(calls)) {
      const error = await rejected(call());
      // A typed refusal of the input, not a backend failure that happened to carry the value.
      const code = isEventStoreError(error) ? error.code : undefined;
      expect({ what, typed: code !== undefined && code !== EventStoreErrorCode.Backend }).toEqual({ what, typed: true });
      expectNoSecret(error, ...fragments);
    }
    // The values stay on the errors for code that asks for them.
    const wrong = await rejected(store.append(id, [ev('test.x')], { expectedVersion: 5 }));
    expect(wrong).toMatchObject({ streamId: id, expected: 5, actual: 1 });
    const conflict = await rejected(store.append(`${id}:other`, [ev('test.x', {}, { id: stored })]));
    expect(conflict).toMatchObject({ eventId: stored, streamId: `${id}:other`, storedStreamId: id });
    expect(await rejected(store.read(text))).toMatchObject({ streamId: text });
    expect(await store.read(id)).toHaveLength(1);
  },

  'the factory refuses an unknown option, naming it only when it is a plain identifier': async (open) => {
    const typo = await rejected(open({ maxEventByte: 100 } as EventStoreOptions));
    expect(typo).toBeInstanceOf(InvalidEventStoreOptionError);
    expect(typo).toMatchObject({ code: EventStoreErrorCode.InvalidOption, option: 'maxEventByte' });
    expect((typo as Error).message).toMatch(/^maxEventByte \(an unknown option\) is invalid, expected only the options partition, maxEventBytes, now\b/);
    // A key that is not an identifier may be anything: it is described, never shown.
    const token = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2'].join('_');
    const odd = await rejected(open({ [`${token} x`]: true } as EventStoreOptions));
    expect(odd).toMatchObject({ code: EventStoreErrorCode.InvalidOption, option: 'options' });
    expect((odd as Error).message).toContain(`options (an unknown key, a string of ${token.length + 2} characters) is invalid`);
    expectNoSecret(odd, token);
    // A key set to undefined changes nothing and is not refused.
    await using store = await open({ unused: undefined } as EventStoreOptions);
    expect(await store.readAll()).toEqual([]);
  },

  'a stream subscription delivers catch-up then live in version order, only its stream': async (open, { timeoutMs }) => {
    await using store = await open();
    const s = stream();
    const other = stream();
    await store.append(s, [ev('test.n', { n: 1 }), ev('test.n', { n: 2 })]);
    await store.append(other, [ev('test.other')]);
    const got: StoredEvent[] = [];
    await using sub = await store.subscribe({ streamId: s, handler: (e) => void got.push(e) });
    await store.append(other, [ev('test.other')]);
    await store.append(s, [ev('test.n', { n: 3 })]);
    await store.append(s, [ev('test.n', { n: 4 }), ev('test.n', { n: 5 })]);
    await eventually(() => expect(got.map((e) => e.version)).toEqual([1, 2, 3, 4, 5]), timeoutMs);
    expect(got.every((e) => e.streamId === s)).toBe(true);
    expect(sub.lastDelivered).toBe('5');
    const fromThree: StoredEvent[] = [];
    await using sub2 = await store.subscribe({ streamId: s, from: { version: 3 }, handler: (e) => void fromThree.push(e) });
    await eventually(() => expect(fromThree.map((e) => e.version)).toEqual([3, 4, 5]), timeoutMs);
    const fromEnd: StoredEvent[] = [];
    await using sub3 = await store.subscribe({ streamId: s, from: 'end', handler: (e) => void fromEnd.push(e) });
    await store.append(s, [ev('test.n', { n: 6 })]);
    await eventually(() => expect(fromEnd.map((e) => e.version)).toEqual([6]), timeoutMs);
    void sub2;
    void sub3;
  },

  'a log subscription delivers catch-up then live with no gap or duplicate at the seam': async (open, { timeoutMs }) => {
    await using store = await open();
    const streams = [stream('a'), stream('b'), stream('c')];
    for (let i = 0; i < 30; i++) await store.append(streams[i % 3]!, [ev('test.before', { i })]);
    const got: StoredEvent[] = [];
    await using sub = await store.subscribe({ handler: (e) => void got.push(e) });
    // Live appends race the catch-up reads.
    await Promise.all(
      streams.map(async (s, k) => {
        for (let i = 0; i < 10; i++) await store.append(s, [ev('test.after', { k, i }), ev('test.after', { k, i, second: true })]);
      }),
    );
    await eventually(() => expect(got).toHaveLength(90), timeoutMs);
    await delay(50);
    expect(got).toHaveLength(90);
    const log = await store.readAll({ limit: 1000 });
    expect(got.map((e) => e.id)).toEqual(log.map((e) => e.id));
    expect(new Set(got.map((e) => e.id)).size).toBe(90);
    for (const s of streams) {
      expect(got.filter((e) => e.streamId === s).map((e) => e.version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    }
    expect(sub.lastDelivered).toBe(log.at(-1)!.position);
  },

  'every position from append, readAll and subscribe is a safe cursor, also while an older transaction is open': async (open, { timeoutMs, hold }) => {
    await using store = await open();
    const collect = async (from: string) => {
      const got: StoredEvent[] = [];
      const sub = await store.subscribe({ from: { after: from }, handler: (e) => void got.push(e) });
      return { got, sub };
    };
    const before = await store.append(stream('before'), [ev('test.before')]);
    // A transaction that takes a lower position, then stays open while later appends commit.
    await using held = hold ? await hold() : undefined;
    const heldEvents = held ? await held.store.append(stream('held'), [ev('test.held')]) : [];
    const mine = await store.append(stream('mine'), [ev('test.mine', { n: 1 }), ev('test.mine', { n: 2 })]);
    const fromMine = await collect(mine.at(-1)!.position);
    const fromFirstOfMine = await collect(mine[0]!.position);
    if (held) {
      // The log cannot pass the open transaction: nothing after `before` is readable yet.
      await delay(100);
      expect((await store.readAll({ after: mine.at(-1)!.position })).map((e) => e.id)).toEqual([]);
      expect(fromMine.got).toEqual([]);
      await held.commit();
    }
    const later = await store.append(stream('later'), [ev('test.later')]);
    const all = [...before, ...heldEvents, ...mine, ...later];
    await logHolds(store, all.length, timeoutMs);
    const log = await store.readAll();
    expect(new Set(log.map((e) => e.id))).toEqual(new Set(all.map((e) => e.id)));
    const ids = (events: readonly StoredEvent[]) => events.map((e) => e.id);
    const rest = (id: string) => ids(log.slice(log.findIndex((e) => e.id === id) + 1));

    // A position returned by append() returns every event that committed after the append
    // returned (the held one included) and everything after it in the log, each once and in log
    // order. A plain one resumes exactly after its event; one with a horizon suffix (an older
    // transaction was open) may also return the appended events and concurrent ones.
    const expectAfterMine = (got: string[], last: StoredEvent) => {
      const mustHave = [...ids(heldEvents), ...ids(later), ...rest(last.id)];
      for (const id of new Set(mustHave)) expect(got).toContain(id);
      if (last.position === eventPosition(last.position)) expect(got).toEqual(rest(last.id));
      expect(new Set(got).size).toBe(got.length);
      expect(got).toEqual(ids(log).filter((id) => got.includes(id)));
    };
    expectAfterMine(ids(await store.readAll({ after: mine.at(-1)!.position })), mine.at(-1)!);
    expectAfterMine(ids(await store.readAll({ after: mine[0]!.position })), mine[0]!);
    expect(ids(await store.readAll({ after: mine[0]!.position }))).toContain(mine[1]!.id);
    const lateSub = await collect(mine.at(-1)!.position);
    await eventually(() => expect(lateSub.got.map((e) => e.id)).toContain(later[0]!.id), timeoutMs);
    await eventually(() => expect(fromMine.got.map((e) => e.id)).toContain(later[0]!.id), timeoutMs);
    await eventually(() => expect(fromFirstOfMine.got.map((e) => e.id)).toContain(later[0]!.id), timeoutMs);
    expectAfterMine(ids(lateSub.got), mine.at(-1)!);
    expectAfterMine(ids(fromMine.got), mine.at(-1)!);
    expectAfterMine(ids(fromFirstOfMine.got), mine[0]!);
    expect(eventPosition(mine.at(-1)!.position)).toBe(log.find((e) => e.id === mine.at(-1)!.id)!.position);

    // Positions delivered by readAll and subscriptions resume exactly after their event.
    for (const e of log) expect(ids(await store.readAll({ after: e.position }))).toEqual(rest(e.id));
    const full = await collect('0');
    await eventually(() => expect(full.got).toHaveLength(log.length), timeoutMs);
    for (const e of full.got) {
      const resumed = await collect(e.position);
      await eventually(() => expect(ids(resumed.got)).toEqual(rest(e.id)), timeoutMs);
      await resumed.sub.unsubscribe();
    }
    expect(full.sub.lastDelivered).toBe(log.at(-1)!.position);
    expect(ids(await store.readAll({ after: full.sub.lastDelivered! }))).toEqual([]);
    for (const sub of [fromMine.sub, fromFirstOfMine.sub, lateSub.sub, full.sub]) await sub.unsubscribe();
  },

  'a log subscription starts after a position or at the end, and filters': async (open, { timeoutMs }) => {
    await using store = await open();
    const s = stream();
    await store.append(s, [ev('test.a'), ev('tool.run.started', {}, { metadata: { sessionId: 'X' } }), ev('test.c')]);
    await logHolds(store, 3, timeoutMs);
    const first = await store.readAll();
    const afterFirst: StoredEvent[] = [];
    await using sub1 = await store.subscribe({ from: { after: first[0]!.position }, handler: (e) => void afterFirst.push(e) });
    const atEnd: StoredEvent[] = [];
    await using sub2 = await store.subscribe({ from: 'end', handler: (e) => void atEnd.push(e) });
    const filtered: StoredEvent[] = [];
    await using sub3 = await store.subscribe({ filter: { sessionId: 'X' }, handler: (e) => void filtered.push(e) });
    const later = await store.append(s, [ev('tool.run.completed', {}, { metadata: { sessionId: 'X' } }), ev('test.e')]);
    await eventually(() => {
      expect(afterFirst.map((e) => e.version)).toEqual([2, 3, 4, 5]);
      expect(atEnd.map((e) => e.id)).toEqual(later.map((e) => e.id));
      expect(filtered.map((e) => e.type)).toEqual(['tool.run.started', 'tool.run.completed']);
    }, timeoutMs);
    for (const bad of [{ from: { version: 1 } }, { from: 'middle' }, { streamId: s, from: { after: '1' } }, { streamId: s, filter: { sessionId: 'X' } }]) {
      expect(await rejected(store.subscribe(bad as never))).toBeInstanceOf(InvalidEventStoreOptionError);
    }
    void sub1;
    void sub2;
    void sub3;
  },

  'an async-iterator subscription yields catch-up then live and ends on unsubscribe': async (open, { timeoutMs }) => {
    await using store = await open();
    const s = stream();
    await store.append(s, [ev('test.a'), ev('test.b')]);
    const sub = await store.subscribe({ streamId: s });
    const seen: number[] = [];
    const consumed = (async () => {
      for await (const e of sub) {
        seen.push(e.version);
        if (e.version === 3) await sub.unsubscribe();
      }
    })();
    await store.append(s, [ev('test.c'), ev('test.d')]);
    await Promise.race([consumed, delay(timeoutMs).then(() => Promise.reject(new Error('iterator did not end')))]);
    expect(seen).toEqual([1, 2, 3]);
    expect(sub.closed).toBe(true);
    expect(() => sub[Symbol.asyncIterator]()).toThrow(TypeError);
    // Breaking out of the loop unsubscribes too.
    const sub2 = await store.subscribe({ streamId: s });
    for await (const e of sub2) if (e.version === 2) break;
    expect(sub2.closed).toBe(true);
  },

  'unsubscribe is idempotent and stops delivery at once': async (open, { timeoutMs }) => {
    await using store = await open();
    const s = stream();
    await store.append(
      s,
      Array.from({ length: 20 }, (_, i) => ev('test.n', { i })),
    );
    const got: number[] = [];
    let sub: Subscription | undefined;
    sub = await store.subscribe({
      streamId: s,
      handler: async (e) => {
        got.push(e.version);
        if (e.version === 5) await sub!.unsubscribe();
      },
    });
    await eventually(() => expect(sub!.closed).toBe(true), timeoutMs);
    await sub.unsubscribe();
    await sub.unsubscribe();
    await store.append(s, [ev('test.late')]);
    await delay(100);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    // From outside, while live: nothing after unsubscribe resolves.
    const live: number[] = [];
    const sub2 = await store.subscribe({ streamId: s, from: 'end', handler: (e) => void live.push(e.version) });
    await store.append(s, [ev('test.x')]);
    await eventually(() => expect(live).toEqual([22]), timeoutMs);
    await sub2.unsubscribe();
    await store.append(s, [ev('test.y')]);
    await delay(100);
    expect(live).toEqual([22]);
    // Aborting the subscription's signal unsubscribes.
    const controller = new AbortController();
    const sub3 = await store.subscribe({ streamId: s, signal: controller.signal, handler: () => undefined });
    controller.abort();
    await eventually(() => expect(sub3.closed).toBe(true), timeoutMs);
  },

  'a throwing or slow consumer does not stop delivery to others': async (open, { timeoutMs }) => {
    await using store = await open();
    const s = stream();
    const errors: Array<[unknown, StoredEvent | undefined]> = [];
    const thrower: number[] = [];
    const fast: number[] = [];
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const slow: number[] = [];
    await using a = await store.subscribe({
      streamId: s,
      handler: (e) => {
        thrower.push(e.version);
        throw new Error(`boom ${e.version}`);
      },
      onError: (error, event) => void errors.push([error, event]),
    });
    await using b = await store.subscribe({
      streamId: s,
      handler: async (e) => {
        await slowGate;
        slow.push(e.version);
      },
    });
    await using c = await store.subscribe({ streamId: s, handler: (e) => void fast.push(e.version) });
    await store.append(s, [ev('test.a'), ev('test.b'), ev('test.c')]);
    await eventually(() => expect(fast).toEqual([1, 2, 3]), timeoutMs);
    await eventually(() => expect(thrower).toEqual([1, 2, 3]), timeoutMs);
    expect(slow).toEqual([]);
    expect(errors.map(([error, event]) => [(error as Error).message, event?.version])).toEqual([
      ['boom 1', 1],
      ['boom 2', 2],
      ['boom 3', 3],
    ]);
    releaseSlow();
    await eventually(() => expect(slow).toEqual([1, 2, 3]), timeoutMs);
    void a;
    void b;
    void c;
  },

  'a consumer may append and read re-entrantly': async (open, { timeoutMs }) => {
    await using store = await open();
    const s = stream('in');
    const out = stream('out');
    await using sub = await store.subscribe({
      streamId: s,
      handler: async (e) => {
        const seen = await store.read(s, { fromVersion: e.version });
        await store.append(out, [ev('test.echo', { version: e.version, seen: seen.length })]);
      },
    });
    await store.append(s, [ev('test.a'), ev('test.b')]);
    const deadline = Date.now() + timeoutMs;
    while ((await store.streamVersion(out)) < 2 && Date.now() < deadline) await delay(10);
    expect((await store.read(out)).map((e) => e.data.version)).toEqual([1, 2]);
    void sub;
  },

  'close ends live subscriptions': async (open, { timeoutMs }) => {
    const store = await open();
    const s = stream();
    const sub = await store.subscribe({ streamId: s, handler: () => undefined });
    const iter = await store.subscribe({ streamId: s });
    const ended = (async () => {
      for await (const _ of iter) void _;
    })();
    await store.close();
    expect(sub.closed).toBe(true);
    await Promise.race([ended, delay(timeoutMs).then(() => Promise.reject(new Error('iterator did not end on close')))]);
  },
};

/** The test names of the event store conformance suite, for `skip` keys. */
export const eventStoreConformanceTests: readonly string[] = Object.keys(cases);

/**
 * Registers the `EventStore` conformance suite: the contract of ARCHITECTURE §4 that every
 * adapter (in-memory, Postgres, PGlite, NATS) must meet. Each test opens its own store with a
 * fresh partition and closes it.
 *
 * @example
 * ```ts
 * describeEventStoreConformance({ name: 'in-memory', create: (options) => createInMemoryEventStore(options) });
 * ```
 */
export function describeEventStoreConformance(options: EventStoreConformanceOptions): void {
  const { name, create, skip = {}, timeoutMs = 10_000 } = options;
  describe(`EventStore conformance: ${name}`, () => {
    checkSkips(eventStoreConformanceTests, skip);
    for (const [title, run] of Object.entries(cases)) {
      if (title in skip) continue;
      it(title, async () => {
        const partition = `p${uuidv7().replaceAll('-', '').slice(-20)}`;
        const open: Open = async (extra = {}) => create({ partition, ...extra });
        const { openTransaction } = options;
        await run(open, { timeoutMs, hold: openTransaction && (() => openTransaction({ partition })) });
      });
    }
  });
}
