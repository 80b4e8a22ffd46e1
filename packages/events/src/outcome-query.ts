import { InvalidEventStoreOptionError } from './event-store-errors.js';
import { ATTRIBUTION_KEYS, type AttributionKey, type EventFilter, OUTCOMES, type Outcome, type StoredEvent } from './event-store.js';
import { type NormalizedFilter, matchesFilter, normalizeFilter } from './validation.js';

/**
 * The outcome query port: "experiments are queryable by outcome and attribution". It reads the
 * events that carry an `outcome` in their metadata (the end events of tool runs, model calls,
 * tasks, agent turns: `tool.run.completed`, `model.call.failed`, ...) and aggregates them per
 * attribution field. Adapters: the in-memory store (in code, with {@link aggregateOutcomes}),
 * the Postgres and PGlite stores (in SQL). All pass `describeOutcomeQueryConformance` of
 * `@buckley/testing`, so they return the same numbers for the same events.
 */

/** What {@link OutcomeQuery.groupBy} can group by: an attribution field or the event type. */
export type OutcomeGroupKey = AttributionKey | 'type';

/** The keys {@link OutcomeQuery.groupBy} accepts. */
export const OUTCOME_GROUP_KEYS: readonly OutcomeGroupKey[] = [...ATTRIBUTION_KEYS, 'type'];

/** Options of {@link OutcomeQueries.queryOutcomes}. */
export interface OutcomeQuery {
  /**
   * Which events count, as in `readAll`: types, type prefixes, attribution fields, outcomes and
   * an `occurredAt` window. Only events with a metadata `outcome` are ever counted.
   */
  readonly filter?: EventFilter;
  /**
   * One result row per distinct combination of these fields (an event without the field groups
   * under `null`). Empty or omitted: one row over every matching event.
   */
  readonly groupBy?: readonly OutcomeGroupKey[];
  readonly signal?: AbortSignal;
}

/** Aggregates of one group of outcome events. */
export interface OutcomeStats {
  /** The group's value of each `groupBy` key (`null`: the events lacked it); `{}` without `groupBy`. */
  readonly group: Readonly<Partial<Record<OutcomeGroupKey, string | null>>>;
  /** Events in the group (each is one run of a tool, one model call, ...). */
  readonly runs: number;
  /** Events per outcome; every outcome is present, `0` when none. */
  readonly outcomes: Readonly<Record<Outcome, number>>;
  /** `outcomes.success / runs`, between 0 and 1. */
  readonly successRate: number;
  /** Events that carried a `durationMs`; the percentiles are over these. */
  readonly timedRuns: number;
  /**
   * Median `durationMs` (continuous percentile, linear between the two nearest values, as SQL's
   * `percentile_cont`); `null` when no event carried a duration.
   */
  readonly p50DurationMs: number | null;
  /** 95th percentile of `durationMs`, computed like {@link p50DurationMs}. */
  readonly p95DurationMs: number | null;
  /** Sum of `data.inputTokens` where it is a number (as `model.call.completed` carries it). */
  readonly inputTokens: number;
  /** Sum of `data.cachedInputTokens`. */
  readonly cachedInputTokens: number;
  /** Sum of `data.outputTokens`. */
  readonly outputTokens: number;
  /** Sum of `data.costUsd` in US dollars, rounded to nano-dollars (9 decimals). */
  readonly costUsd: number;
}

/** A store that answers outcome queries. */
export interface OutcomeQueries {
  /**
   * Aggregates the outcome events that match `query.filter`, grouped by `query.groupBy`. Rows
   * come sorted by their group values (each ascending by code unit, `null` last). Reads every
   * committed event (no gap-safe horizon: this is a count, not a cursor).
   *
   * @throws {InvalidEventStoreOptionError} for an unknown `groupBy` key or a bad filter
   * @example
   * ```ts
   * const perModel = await store.queryOutcomes({ filter: { typePrefix: 'model.call.' }, groupBy: ['modelId'] });
   * for (const row of perModel) console.log(row.group.modelId, row.successRate, row.p95DurationMs);
   * ```
   */
  queryOutcomes(query?: OutcomeQuery): Promise<OutcomeStats[]>;
}

/** {@link OutcomeQuery} after checks. */
export interface ResolvedOutcomeQuery {
  readonly filter: NormalizedFilter;
  readonly groupBy: readonly OutcomeGroupKey[];
}

/** Validates an {@link OutcomeQuery}; adapters call it before touching their backend. */
export function resolveOutcomeQuery(query: OutcomeQuery = {}): ResolvedOutcomeQuery {
  const groupBy = query.groupBy ?? [];
  if (!Array.isArray(groupBy)) throw new InvalidEventStoreOptionError('groupBy', groupBy, `an array of ${OUTCOME_GROUP_KEYS.join(', ')}`);
  for (const key of groupBy) {
    if (!OUTCOME_GROUP_KEYS.includes(key)) throw new InvalidEventStoreOptionError('groupBy', key, `one of ${OUTCOME_GROUP_KEYS.join(', ')}`);
  }
  if (new Set(groupBy).size !== groupBy.length) throw new InvalidEventStoreOptionError('groupBy', groupBy, 'each key at most once');
  return { filter: normalizeFilter(query.filter), groupBy };
}

/**
 * `percentile_cont`: the value at rank `p * (n - 1)` of the ascending `sorted` values,
 * interpolated linearly between its two neighbours, with the same floating-point steps as
 * Postgres so both give the same double.
 */
export function percentileCont(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const low = sorted[lo]!;
  if (lo === hi) return low;
  return low + (rank - lo) * (sorted[hi]! - low);
}

/** Rounds US dollars to nano-dollars, as the SQL adapters do. */
export function roundCost(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}

interface Accumulator {
  group: Partial<Record<OutcomeGroupKey, string | null>>;
  outcomes: Record<Outcome, number>;
  durations: number[];
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costUsd: number;
}

const numberIn = (data: StoredEvent['data'], key: string): number => {
  const value = data[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
};

/**
 * Computes an outcome query over `events` in code: the reference behaviour every adapter
 * matches (the in-memory store answers with it). Events without a metadata `outcome` are
 * ignored.
 */
export function aggregateOutcomes(events: Iterable<StoredEvent>, options: OutcomeQuery = {}): OutcomeStats[] {
  const query = resolveOutcomeQuery(options);
  const groups = new Map<string, Accumulator>();
  for (const event of events) {
    const outcome = event.metadata.outcome;
    if (outcome === undefined || !OUTCOMES.includes(outcome) || !matchesFilter(event, query.filter)) continue;
    const group: Partial<Record<OutcomeGroupKey, string | null>> = {};
    for (const key of query.groupBy) {
      const value = key === 'type' ? event.type : event.metadata[key];
      group[key] = typeof value === 'string' ? value : null;
    }
    const id = JSON.stringify(query.groupBy.map((key) => group[key]));
    let acc = groups.get(id);
    if (!acc) {
      acc = { group, outcomes: zeroOutcomes(), durations: [], inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 };
      groups.set(id, acc);
    }
    acc.outcomes[outcome]++;
    const duration = event.metadata.durationMs;
    if (typeof duration === 'number' && Number.isFinite(duration)) acc.durations.push(duration);
    acc.inputTokens += numberIn(event.data, 'inputTokens');
    acc.cachedInputTokens += numberIn(event.data, 'cachedInputTokens');
    acc.outputTokens += numberIn(event.data, 'outputTokens');
    acc.costUsd += numberIn(event.data, 'costUsd');
  }
  const rows = [...groups.values()].map((acc): OutcomeStats => {
    const runs = OUTCOMES.reduce((sum, o) => sum + acc.outcomes[o], 0);
    const sorted = acc.durations.toSorted((a, b) => a - b);
    return {
      group: acc.group,
      runs,
      outcomes: acc.outcomes,
      successRate: acc.outcomes.success / runs,
      timedRuns: sorted.length,
      p50DurationMs: percentileCont(sorted, 0.5),
      p95DurationMs: percentileCont(sorted, 0.95),
      inputTokens: acc.inputTokens,
      cachedInputTokens: acc.cachedInputTokens,
      outputTokens: acc.outputTokens,
      costUsd: roundCost(acc.costUsd),
    };
  });
  return rows.sort((a, b) => compareGroups(a.group, b.group, query.groupBy));
}

/** Orders result rows by their group values: ascending by code unit, `null` last. */
export function compareGroups(a: OutcomeStats['group'], b: OutcomeStats['group'], groupBy: readonly OutcomeGroupKey[]): number {
  for (const key of groupBy) {
    const x = a[key] ?? null;
    const y = b[key] ?? null;
    if (x === y) continue;
    if (x === null) return 1;
    if (y === null) return -1;
    return x < y ? -1 : 1;
  }
  return 0;
}

function zeroOutcomes(): Record<Outcome, number> {
  return { success: 0, failure: 0, timeout: 0, cancelled: 0, denied: 0 };
}
