import { AsyncLocalStorage } from 'node:async_hooks';
import type { EventMetadata } from '@buckley/events';
import { InvalidAttributionError } from './observability-errors.js';

/**
 * The attribution an operation runs under: the ids of ARCHITECTURE §4's metadata that nested
 * operations inherit. Every field is optional; a nested scope overrides only the fields it sets.
 */
export interface Attribution {
  readonly sessionId?: string | undefined;
  readonly planId?: string | undefined;
  readonly taskId?: string | undefined;
  readonly experimentId?: string | undefined;
  readonly agentId?: string | undefined;
  /** 1-based attempt of a retried action; an integer >= 1. */
  readonly attempt?: number | undefined;
  readonly correlationId?: string | undefined;
  /** The event that caused the operations of this scope. */
  readonly causationId?: string | undefined;
  /** W3C trace id: 32 lower-case hex digits, not all zero. */
  readonly traceId?: string | undefined;
  /** W3C span id: 16 lower-case hex digits, not all zero. */
  readonly spanId?: string | undefined;
  /** The runtime node (machine or process). */
  readonly nodeId?: string | undefined;
}

/** The fields of {@link Attribution}, in the order events carry them. */
export const ATTRIBUTION_FIELDS = [
  'sessionId',
  'planId',
  'taskId',
  'experimentId',
  'agentId',
  'attempt',
  'correlationId',
  'causationId',
  'traceId',
  'spanId',
  'nodeId',
] as const satisfies ReadonlyArray<keyof Attribution & keyof EventMetadata>;

// Ids end up in stream ids (`session:<id>`, at most 256 characters, no whitespace).
const idPattern = /^[^\s\p{Cc}]{1,200}$/u;
const traceIdPattern = /^(?!0{32})[0-9a-f]{32}$/;
const spanIdPattern = /^(?!0{16})[0-9a-f]{16}$/;

/**
 * Checks one attribution and returns it without its `undefined` fields. Throws
 * {@link InvalidAttributionError} for a field of the wrong type or shape.
 */
export function validateAttribution(attribution: Attribution): Attribution {
  const out: Record<string, string | number> = {};
  for (const field of ATTRIBUTION_FIELDS) {
    const value: unknown = attribution[field];
    if (value === undefined) continue;
    if (field === 'attempt') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidAttributionError(field, value, 'an integer >= 1');
    } else if (typeof value !== 'string' || !idPattern.test(value)) {
      throw new InvalidAttributionError(field, value, 'a string of 1 to 200 characters without whitespace or control characters');
    } else if (field === 'traceId' && !traceIdPattern.test(value)) {
      throw new InvalidAttributionError(field, value, '32 lower-case hex digits, not all zero');
    } else if (field === 'spanId' && !spanIdPattern.test(value)) {
      throw new InvalidAttributionError(field, value, '16 lower-case hex digits, not all zero');
    }
    out[field] = value;
  }
  return out;
}

/**
 * Where the current attribution lives: an `AsyncLocalStorage`, so everything started inside
 * {@link AttributionContext.run} (awaits, timers, promises, nested runs) sees the same ids
 * without passing them by hand. One per recorder; give the same instance to everything that
 * should share it.
 */
export interface AttributionContext {
  /** The attribution of the calling async scope; `{}` outside any run. A fresh frozen object. */
  current(): Attribution;
  /**
   * Runs `fn` with the current attribution overlaid by `attribution` (fields set to `undefined`
   * are inherited). Throws {@link InvalidAttributionError} before `fn` runs for a bad field.
   */
  run<T>(attribution: Attribution, fn: () => T): T;
}

/**
 * Creates an attribution context.
 *
 * @example
 * ```ts
 * const context = createAttributionContext();
 * await context.run({ sessionId: 's1' }, async () => {
 *   await context.run({ taskId: 't1' }, async () => context.current()); // { sessionId: 's1', taskId: 't1' }
 * });
 * ```
 */
export function createAttributionContext(): AttributionContext {
  const storage = new AsyncLocalStorage<Attribution>();
  const empty: Attribution = Object.freeze({});
  return {
    current: () => storage.getStore() ?? empty,
    run: (attribution, fn) => {
      const overlay = validateAttribution(attribution);
      const parent = storage.getStore();
      return storage.run(Object.freeze(parent === undefined ? overlay : { ...parent, ...overlay }), fn);
    },
  };
}
