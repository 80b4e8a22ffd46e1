// The suite registers its cases from a table, so titles are variables and assertions live in the cases.
/* oxlint-disable vitest/expect-expect, vitest/valid-title */
import { checkSkips, expectNoSecret, rejected } from './errors.js';
import {
  type EventMetadata,
  type EventStore,
  type EventStoreOptions,
  InvalidEventStoreOptionError,
  type NewEvent,
  type OutcomeQueries,
  type OutcomeQuery,
  type OutcomeStats,
  aggregateOutcomes,
} from '@buckley/events';
import { ClosedError, uuidv7 } from '@buckley/utils';
import { describe, expect, it } from 'vitest';

/** A store under test: the event store and its outcome queries. */
export type OutcomeQueryStore = EventStore & OutcomeQueries;

/** Options of {@link describeOutcomeQueryConformance}. */
export interface OutcomeQueryConformanceOptions {
  /** Names the adapter in the test report. */
  readonly name: string;
  /** Makes a store for one test; the suite passes a fresh `partition` per test. */
  readonly create: (options: EventStoreOptions & { partition: string }) => Promise<OutcomeQueryStore> | OutcomeQueryStore;
  /** Tests this adapter does not run, by test name, each with the reason. */
  readonly skip?: Readonly<Record<string, string>>;
}

type Case = (open: () => Promise<OutcomeQueryStore>) => Promise<void>;

const end = (type: string, metadata: EventMetadata, data: Record<string, unknown> = {}, occurredAt?: string): NewEvent =>
  ({ type, data, metadata, ...(occurredAt ? { occurredAt } : {}) }) as NewEvent;

const zero = { success: 0, failure: 0, timeout: 0, cancelled: 0, denied: 0 };

/**
 * A small log with numbers worked out by hand: two models, two tools, two plans, one
 * experiment, every outcome, and events that must not count (no outcome, a start event).
 */
async function seedKnown(store: EventStore): Promise<void> {
  const m = (modelId: string, outcome: EventMetadata['outcome'], durationMs: number, data: Record<string, unknown>, extra: EventMetadata = {}) =>
    end(outcome === 'success' ? 'model.call.completed' : 'model.call.failed', { modelId, outcome, durationMs, ...extra }, data);
  await store.append('session:a', [
    end('model.call.started', { modelId: 'gpt-a', planId: 'plan-1' }, { callId: 'c0' }),
    m('gpt-a', 'success', 100, { inputTokens: 1000, cachedInputTokens: 200, outputTokens: 50, costUsd: 0.0012 }, { planId: 'plan-1', experimentId: 'exp-1' }),
    m('gpt-a', 'success', 300, { inputTokens: 2000, cachedInputTokens: 0, outputTokens: 150, costUsd: 0.0031 }, { planId: 'plan-1', experimentId: 'exp-1' }),
    m('gpt-a', 'failure', 50, { errorCode: 'MODEL_RATE_LIMITED' }, { planId: 'plan-2' }),
    m('gpt-a', 'timeout', 1000, {}, { planId: 'plan-2' }),
    m('gpt-b', 'success', 200, { inputTokens: 500, outputTokens: 20, costUsd: null }, { planId: 'plan-1', experimentId: 'exp-1' }),
    m('gpt-b', 'cancelled', 20, {}, { planId: 'plan-1', experimentId: 'exp-1' }),
  ]);
  await store.append('session:b', [
    end('tool.run.started', { toolName: 'shell', planId: 'plan-1' }, { operationId: 't0' }),
    end('tool.run.completed', { toolName: 'shell', planId: 'plan-1', outcome: 'success', durationMs: 10 }, {}, '2026-01-01T00:00:00.000Z'),
    end('tool.run.completed', { toolName: 'shell', planId: 'plan-1', outcome: 'success', durationMs: 30 }, {}, '2026-01-02T00:00:00.000Z'),
    end('tool.run.failed', { toolName: 'shell', planId: 'plan-2', outcome: 'failure', durationMs: 20 }, {}, '2026-01-03T00:00:00.000Z'),
    end('tool.run.denied', { toolName: 'write_file', planId: 'plan-2', outcome: 'denied' }, {}, '2026-01-04T00:00:00.000Z'),
    end('note.written', { toolName: 'shell' }, {}),
  ]);
}

const stats = (fields: Partial<OutcomeStats> & Pick<OutcomeStats, 'runs'>): OutcomeStats => ({
  group: {},
  successRate: 0,
  timedRuns: 0,
  p50DurationMs: null,
  p95DurationMs: null,
  inputTokens: 0,
  cachedInputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  ...fields,
  outcomes: { ...zero, ...fields.outcomes },
});

/** A deterministic pseudo-random source (mulberry32), so every adapter gets the same log. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(next: () => number, values: readonly T[]): T => values[Math.floor(next() * values.length)]!;

/** 600 outcome events (and a few others) with every field varied. */
async function seedRandom(store: EventStore): Promise<void> {
  const next = random(13);
  const outcomes = ['success', 'success', 'success', 'failure', 'timeout', 'cancelled', 'denied'] as const;
  for (let batch = 0; batch < 12; batch++) {
    const events: NewEvent[] = [];
    for (let i = 0; i < 50; i++) {
      const model = next() < 0.5;
      const metadata: Record<string, unknown> = {
        outcome: pick(next, outcomes),
        sessionId: pick(next, ['s1', 's2', 's3']),
        planId: pick(next, ['p1', 'p2', 'p3', 'p4']),
        taskId: `t${Math.floor(next() * 20)}`,
        agentId: pick(next, ['a1', 'a2']),
      };
      if (next() < 0.9) metadata.durationMs = Math.round(next() * 50_000) / 10;
      if (next() < 0.6) metadata.experimentId = pick(next, ['e1', 'e2']);
      if (model) metadata.modelId = pick(next, ['m-large', 'm-small', 'm-mini']);
      else metadata.toolName = pick(next, ['shell', 'read_file', 'write_file', 'grep']);
      const data: Record<string, unknown> = model
        ? {
            inputTokens: Math.floor(next() * 5000),
            cachedInputTokens: Math.floor(next() * 500),
            outputTokens: Math.floor(next() * 900),
            costUsd: Math.round(next() * 1e7) / 1e9,
          }
        : { output: 'x'.repeat(Math.floor(next() * 40)) };
      const occurredAt = new Date(Date.UTC(2026, 0, 1 + Math.floor(next() * 28), Math.floor(next() * 24))).toISOString();
      const type = model
        ? metadata.outcome === 'success'
          ? 'model.call.completed'
          : 'model.call.failed'
        : `tool.run.${metadata.outcome === 'success' ? 'completed' : 'failed'}`;
      events.push({ type, data, metadata, occurredAt } as NewEvent);
    }
    events.push({ type: 'session.note', data: {}, metadata: { planId: 'p1' } });
    await store.append(`session:r${batch % 3}`, events);
  }
}

/** Percentiles to 1e-9, for comparing with hand-worked values (the exact doubles come from the reference test). */
const rounded = (rows: OutcomeStats[]): OutcomeStats[] =>
  rows.map((r) => ({
    ...r,
    p50DurationMs: r.p50DurationMs === null ? null : Math.round(r.p50DurationMs * 1e9) / 1e9,
    p95DurationMs: r.p95DurationMs === null ? null : Math.round(r.p95DurationMs * 1e9) / 1e9,
  }));

const cases: Record<string, Case> = {
  'aggregates per model: runs, outcomes, success rate, p50/p95 duration, tokens and cost': async (open) => {
    await using store = await open();
    await seedKnown(store);
    expect(rounded(await store.queryOutcomes({ filter: { typePrefix: 'model.call.' }, groupBy: ['modelId'] }))).toEqual([
      stats({
        group: { modelId: 'gpt-a' },
        runs: 4,
        outcomes: { ...zero, success: 2, failure: 1, timeout: 1 },
        successRate: 0.5,
        timedRuns: 4,
        // Durations 50, 100, 300, 1000: the median halfway between 100 and 300; p95 at rank 2.85.
        p50DurationMs: 200,
        p95DurationMs: 895,
        inputTokens: 3000,
        cachedInputTokens: 200,
        outputTokens: 200,
        costUsd: 0.0043,
      }),
      stats({
        group: { modelId: 'gpt-b' },
        runs: 2,
        outcomes: { ...zero, success: 1, cancelled: 1 },
        successRate: 0.5,
        timedRuns: 2,
        p50DurationMs: 110,
        p95DurationMs: 191,
        inputTokens: 500,
        outputTokens: 20,
      }),
    ]);
  },

  'aggregates per tool, per plan and experiment, and over everything; events without an outcome do not count': async (open) => {
    await using store = await open();
    await seedKnown(store);
    expect(rounded(await store.queryOutcomes({ filter: { typePrefix: 'tool.run.' }, groupBy: ['toolName'] }))).toEqual([
      stats({
        group: { toolName: 'shell' },
        runs: 3,
        outcomes: { ...zero, success: 2, failure: 1 },
        successRate: 2 / 3,
        timedRuns: 3,
        p50DurationMs: 20,
        p95DurationMs: 29,
      }),
      stats({ group: { toolName: 'write_file' }, runs: 1, outcomes: { ...zero, denied: 1 }, successRate: 0, timedRuns: 0 }),
    ]);
    const byPlan = await store.queryOutcomes({ groupBy: ['planId', 'experimentId'] });
    expect(byPlan.map((r) => [r.group, r.runs, r.outcomes.success])).toEqual([
      [{ planId: 'plan-1', experimentId: 'exp-1' }, 4, 3],
      [{ planId: 'plan-1', experimentId: null }, 2, 2],
      [{ planId: 'plan-2', experimentId: null }, 4, 0],
    ]);
    const [total] = await store.queryOutcomes();
    expect(total).toMatchObject({ group: {}, runs: 10, outcomes: { success: 5, failure: 2, timeout: 1, cancelled: 1, denied: 1 }, timedRuns: 9 });
    expect(total!.successRate).toBe(0.5);
  },

  'filters by outcome, attribution, type and time before aggregating': async (open) => {
    await using store = await open();
    await seedKnown(store);
    const failures = await store.queryOutcomes({ filter: { outcome: ['failure', 'timeout'] }, groupBy: ['type'] });
    expect(failures.map((r) => [r.group.type, r.runs])).toEqual([
      ['model.call.failed', 2],
      ['tool.run.failed', 1],
    ]);
    expect((await store.queryOutcomes({ filter: { experimentId: 'exp-1' }, groupBy: ['modelId'] })).map((r) => [r.group.modelId, r.runs])).toEqual([
      ['gpt-a', 2],
      ['gpt-b', 2],
    ]);
    expect((await store.queryOutcomes({ filter: { planId: 'plan-2', toolName: 'shell' } })).map((r) => r.runs)).toEqual([1]);
    expect((await store.queryOutcomes({ filter: { types: ['tool.run.denied'] } })).map((r) => r.outcomes.denied)).toEqual([1]);
    const window = await store.queryOutcomes({ filter: { occurredFrom: '2026-01-02T00:00:00.000Z', occurredBefore: '2026-01-04T00:00:00.000Z' } });
    expect(window.map((r) => [r.runs, r.p50DurationMs])).toEqual([[2, 25]]);
    expect(await store.queryOutcomes({ filter: { modelId: 'nobody' }, groupBy: ['modelId'] })).toEqual([]);
    expect(await store.queryOutcomes({ filter: { modelId: 'nobody' } })).toEqual([]);
  },

  'gives the same numbers as the reference computation over a varied log, for every grouping': async (open) => {
    await using store = await open();
    await seedRandom(store);
    const log = await store.readAll({ limit: 100_000 });
    expect(log.length).toBe(612);
    const queries: OutcomeQuery[] = [
      { groupBy: ['modelId'] },
      { groupBy: ['toolName'] },
      { groupBy: ['planId'] },
      { groupBy: ['experimentId'] },
      { groupBy: ['sessionId', 'agentId'] },
      { groupBy: ['taskId'], filter: { outcome: 'failure' } },
      { groupBy: ['modelId', 'experimentId'], filter: { typePrefix: 'model.call.', occurredFrom: '2026-01-10T00:00:00.000Z' } },
      { filter: { toolName: 'shell', planId: 'p2' } },
      {},
    ];
    for (const query of queries) {
      const got = await store.queryOutcomes(query);
      expect(got.length).toBeGreaterThan(0);
      expect(got).toEqual(aggregateOutcomes(log, query));
    }
  },

  'refuses an unknown group key or a bad filter, and rejects after close': async (open) => {
    const store = await open();
    // A planted secret in a group key, a filter key and a filter value reaches no message or output.
    const token = ['ghp', 'Zq8wPlanted0Secret9Value7Xy3Kd5Rt1Mn2'].join('_');
    for (const bad of [
      { groupBy: ['colour'] },
      { groupBy: 'modelId' },
      { groupBy: ['modelId', 'modelId'] },
      { filter: { outcome: 'great' } },
      { filter: { size: 1 } },
      { groupBy: [token] },
      { groupBy: token },
      { filter: { [token]: 'x' } },
      { filter: { outcome: [token] } },
      { filter: { typePrefix: [token, ''] } },
    ]) {
      const error = await rejected(store.queryOutcomes(bad as never));
      expect(error).toBeInstanceOf(InvalidEventStoreOptionError);
      expectNoSecret(error, token);
    }
    await store.close();
    expect(await rejected(store.queryOutcomes())).toBeInstanceOf(ClosedError);
  },
};

/** The test names of the outcome query conformance suite, for `skip` keys. */
export const outcomeQueryConformanceTests: readonly string[] = Object.keys(cases);

/**
 * Registers the `OutcomeQueries` conformance suite: every adapter (in-memory, Postgres,
 * PGlite) returns the same aggregates for the same events, worked out by hand on a small log
 * and against `aggregateOutcomes` (the reference) on a varied one.
 *
 * @example
 * ```ts
 * describeOutcomeQueryConformance({ name: 'in-memory', create: (options) => createInMemoryEventStore(options) });
 * ```
 */
export function describeOutcomeQueryConformance(options: OutcomeQueryConformanceOptions): void {
  const { name, create, skip = {} } = options;
  describe(`OutcomeQueries conformance: ${name}`, () => {
    checkSkips(outcomeQueryConformanceTests, skip);
    for (const [title, run] of Object.entries(cases)) {
      if (title in skip) continue;
      it(title, async () => {
        const partition = `o${uuidv7().replaceAll('-', '').slice(-20)}`;
        await run(async () => create({ partition }));
      });
    }
  });
}
