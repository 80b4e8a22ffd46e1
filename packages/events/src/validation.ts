import { describeValue, isUuid, uuidv7 } from '@buckley/utils';
import {
  InvalidEventError,
  InvalidEventStoreOptionError,
  InvalidExpectedVersionError,
  InvalidStreamIdError,
  WrongExpectedVersionError,
} from './event-store-errors.js';
import {
  ATTRIBUTION_KEYS,
  type AttributionKey,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_READ_ALL_LIMIT,
  type EventFilter,
  type EventMetadata,
  type EventStoreOptions,
  type ExpectedVersion,
  type JsonObject,
  OUTCOMES,
  type Outcome,
  type ReadAllOptions,
  type ReadOptions,
  type StoredEvent,
  type StreamAppend,
  type SubscribeFrom,
} from './event-store.js';

/** Longest accepted stream id, in UTF-16 code units. */
const MAX_STREAM_ID_LENGTH = 256;
/** Longest accepted event type. */
const MAX_EVENT_TYPE_LENGTH = 128;

/**
 * Deepest nesting of objects and arrays in an event's data or metadata or a snapshot. Far more
 * than any event needs, and far less than what overflows the stack of a recursive check (or of
 * Postgres's jsonb parser, which refuses a few thousand levels).
 */
const MAX_JSON_DEPTH = 512;

const TYPE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/;
// Whitespace and control characters (C0, DEL, C1) make ids ambiguous in logs, subjects and URLs.
// oxlint-disable-next-line no-control-regex
const BAD_STREAM_CHAR = /[\s\u0000-\u001f\u007f-\u009f]/u;

/** The keys of {@link EventStoreOptions}: what every adapter's factory accepts. */
const STORE_OPTION_KEYS: readonly string[] = ['partition', 'maxEventBytes', 'now'];

const OPTION_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Throws {@link InvalidEventStoreOptionError} unless `options` is an object (or `undefined`)
 * whose keys are all in `known`: a misspelt option (`migrat: false`) must not be ignored in
 * silence. A key whose value is `undefined` is not checked. The error names an unknown key when
 * it is a plain identifier of at most 64 characters (options are written in code, and the name of
 * the typo is what makes the error useful), and otherwise only describes it by size.
 */
export function assertOptionKeys(options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidEventStoreOptionError('options', options, 'an object');
  }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.includes(key)) continue;
    const named = OPTION_KEY.test(key);
    throw new InvalidEventStoreOptionError(named ? key : 'options', value, `only the options ${known.join(', ')}`, {
      shown: named ? 'an unknown option' : `an unknown key, ${describeValue(key)}`,
    });
  }
}

/** Store options after defaults. */
export interface ResolvedStoreOptions {
  readonly partition: string;
  readonly maxEventBytes: number;
  readonly now: () => number;
}

/**
 * Checks and defaults the options every adapter accepts. `adapterKeys` are the adapter's own
 * options (it checks their values itself); any other key is refused ({@link assertOptionKeys}).
 */
export function resolveStoreOptions(options: EventStoreOptions = {}, adapterKeys: readonly string[] = []): ResolvedStoreOptions {
  assertOptionKeys(options, [...STORE_OPTION_KEYS, ...adapterKeys]);
  const partition = options.partition ?? 'default';
  if (typeof partition !== 'string' || partition.length === 0 || partition.length > 64 || BAD_STREAM_CHAR.test(partition) || !partition.isWellFormed()) {
    throw new InvalidEventStoreOptionError('partition', partition, 'a non-empty string of at most 64 characters without whitespace');
  }
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes < 2) {
    throw new InvalidEventStoreOptionError('maxEventBytes', maxEventBytes, 'an integer >= 2');
  }
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw new InvalidEventStoreOptionError('now', now, 'a function returning Unix milliseconds');
  return { partition, maxEventBytes, now };
}

/**
 * Throws {@link InvalidStreamIdError} unless `streamId` is a string of 1 to 256 characters with
 * no whitespace or control characters, and well-formed Unicode (a lone surrogate would be stored
 * by Postgres as U+FFFD, a different id).
 */
export function assertStreamId(streamId: unknown): asserts streamId is string {
  if (typeof streamId !== 'string') throw new InvalidStreamIdError(streamId, 'is not a string');
  if (streamId.length === 0) throw new InvalidStreamIdError(streamId, 'is empty');
  if (streamId.length > MAX_STREAM_ID_LENGTH) {
    throw new InvalidStreamIdError(streamId, `is longer than ${MAX_STREAM_ID_LENGTH} characters`);
  }
  if (BAD_STREAM_CHAR.test(streamId)) {
    throw new InvalidStreamIdError(streamId, 'contains whitespace or a control character');
  }
  if (!streamId.isWellFormed()) throw new InvalidStreamIdError(streamId, 'contains a lone surrogate (it is not well-formed Unicode)');
}

/** Returns `expected` (default `'any'`) or throws {@link InvalidExpectedVersionError}. */
function resolveExpectedVersion(expected: unknown): ExpectedVersion {
  if (expected === undefined) return 'any';
  if (expected === 'any' || expected === 'no_stream' || expected === 'exists') return expected;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) return expected;
  throw new InvalidExpectedVersionError(expected);
}

/** Throws {@link WrongExpectedVersionError} unless a stream at `actual` satisfies `expected`. */
export function checkExpectedVersion(streamId: string, expected: ExpectedVersion, actual: number): void {
  const ok = expected === 'any' || (expected === 'no_stream' && actual === 0) || (expected === 'exists' && actual > 0) || expected === actual;
  if (!ok) throw new WrongExpectedVersionError(streamId, expected, actual);
}

/** A validated event ready to store: ids and times filled in, JSON already serialised once. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  /** A fresh copy of the caller's data. */
  readonly data: JsonObject;
  readonly metadata: EventMetadata;
  readonly dataJson: string;
  readonly metadataJson: string;
  /** ISO-8601 UTC with milliseconds. */
  readonly occurredAt: string;
}

/** One stream's validated part of an append. */
export interface PreparedAppend {
  readonly streamId: string;
  readonly expectedVersion: ExpectedVersion;
  readonly events: readonly PreparedEvent[];
}

/**
 * Validates a (multi-stream) append completely before anything is written: stream ids,
 * expected versions, and every event (id, type, JSON-ness of data and metadata, size). The
 * first problem throws; ids repeated within the call are rejected.
 */
export function prepareAppends(appends: readonly StreamAppend[], options: ResolvedStoreOptions): PreparedAppend[] {
  if (!Array.isArray(appends)) throw new InvalidEventStoreOptionError('appends', appends, 'an array of { streamId, events }');
  const streams = new Set<string>();
  const ids = new Set<string>();
  return appends.map((entry: StreamAppend) => {
    if (typeof entry !== 'object' || entry === null) {
      throw new InvalidEventStoreOptionError('appends[]', entry, 'an object { streamId, events, expectedVersion? }');
    }
    const { streamId } = entry;
    assertStreamId(streamId);
    if (streams.has(streamId)) {
      throw new InvalidEventStoreOptionError('appends[].streamId', streamId, 'each stream at most once per call');
    }
    streams.add(streamId);
    const expectedVersion = resolveExpectedVersion(entry.expectedVersion);
    if (!Array.isArray(entry.events)) {
      throw new InvalidEventStoreOptionError('events', entry.events, 'an array of events');
    }
    const events = entry.events.map((event: unknown, index: number) => prepareEvent(streamId, index, event, options));
    for (const [index, event] of events.entries()) {
      if (ids.has(event.id)) throw new InvalidEventError(streamId, index, event.id, 'id appears twice in one append');
      ids.add(event.id);
    }
    return { streamId, expectedVersion, events };
  });
}

const EVENT_FIELDS: readonly string[] = ['id', 'type', 'data', 'metadata', 'occurredAt'];

function prepareEvent(streamId: string, index: number, raw: unknown, options: ResolvedStoreOptions): PreparedEvent {
  const fail = (problem: string, id?: string): never => {
    throw new InvalidEventError(streamId, index, id, problem);
  };
  if (!isPlainObject(raw)) return fail(`must be a plain object, got ${describeValue(raw)}`);
  const event = raw as Record<string, unknown>;
  for (const key of Object.keys(event)) {
    if (!EVENT_FIELDS.includes(key) && event[key] !== undefined) {
      fail(`has a field other than ${EVENT_FIELDS.join(', ')} (the store assigns version and position)`);
    }
  }
  let id: string;
  if (event.id === undefined) id = uuidv7();
  else if (isUuid(event.id)) id = event.id;
  else return fail(`id (${describeValue(event.id)}) is not a lower-case canonical UUID`);
  const { type } = event;
  if (typeof type !== 'string' || type.length > MAX_EVENT_TYPE_LENGTH || !TYPE.test(type)) {
    return fail(`type (${describeValue(type)}) is invalid, expected a dotted lower-case name such as "tool.run.completed"`, id);
  }
  const dataProblem = jsonProblem(event.data, 'data', true);
  if (dataProblem) return fail(dataProblem, id);
  const metadata = event.metadata ?? {};
  const metaProblem = jsonProblem(metadata, 'metadata', true) ?? metadataProblem(metadata as Record<string, unknown>);
  if (metaProblem) return fail(metaProblem, id);
  const dataJson = JSON.stringify(event.data);
  const metadataJson = JSON.stringify(metadata);
  const bytes = Buffer.byteLength(dataJson) + Buffer.byteLength(metadataJson);
  if (bytes > options.maxEventBytes) {
    return fail(`data and metadata serialise to ${bytes} bytes, more than the limit of ${options.maxEventBytes}`, id);
  }
  let occurredAt: string;
  if (event.occurredAt === undefined) occurredAt = new Date(options.now()).toISOString();
  else {
    const iso = toIsoMillis(event.occurredAt);
    if (iso === undefined) return fail(`occurredAt (${describeValue(event.occurredAt)}) is not a valid Date or ISO-8601 string`, id);
    occurredAt = iso;
  }
  return {
    id,
    type,
    data: JSON.parse(dataJson) as JsonObject,
    metadata: JSON.parse(metadataJson) as EventMetadata,
    dataJson,
    metadataJson,
    occurredAt,
  };
}

function metadataProblem(metadata: Record<string, unknown>): string | undefined {
  for (const key of [...ATTRIBUTION_KEYS, 'correlationId', 'causationId', 'traceId', 'spanId', 'nodeId']) {
    const value = metadata[key];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      return `metadata.${key} (${describeValue(value)}) is invalid, expected a non-empty string`;
    }
  }
  if (metadata.attempt !== undefined && !(Number.isSafeInteger(metadata.attempt) && (metadata.attempt as number) >= 1)) {
    return `metadata.attempt (${describeValue(metadata.attempt)}) is invalid, expected an integer >= 1`;
  }
  if (metadata.durationMs !== undefined && !(typeof metadata.durationMs === 'number' && Number.isFinite(metadata.durationMs) && metadata.durationMs >= 0)) {
    return `metadata.durationMs (${describeValue(metadata.durationMs)}) is invalid, expected a finite number >= 0`;
  }
  if (metadata.outcome !== undefined && !OUTCOMES.includes(metadata.outcome as Outcome)) {
    return `metadata.outcome (${describeValue(metadata.outcome)}) is invalid, expected one of ${JSON.stringify(OUTCOMES)}`;
  }
  return undefined;
}

/**
 * Why `value` is not a JSON value that round-trips exactly, or `undefined` when it is. Rejects
 * what `JSON.stringify` would silently drop or change (`undefined` members, functions, symbols,
 * non-finite numbers, class instances such as `Date` or `Map`), what it throws on (cycles,
 * `BigInt`) and what Postgres cannot store (NUL characters, lone surrogates). With `object`, the
 * top level must be a plain object.
 *
 * The answer never quotes the value's keys or contents (they may be user text or secrets, and
 * the answer goes into error messages): a member is named by its place, `path.<key 2>` for the
 * third key of an object (in `Object.keys` order) and `path[4]` for an array item.
 *
 * @example
 * ```ts
 * jsonProblem({ ok: 1, items: [0, () => 1] }, 'data'); // 'data.<key 1>[1] is a function'
 * ```
 */
export function jsonProblem(value: unknown, path: string, object = false): string | undefined {
  if (object && !isPlainObject(value)) return `${path} must be a plain JSON object, got ${describeValue(value)}`;
  // Nearly every value is clean: check that without building a path string per member, and
  // walk again with paths only to describe a problem.
  if (isCleanJson(value, new Set())) return undefined;
  const ancestors = new Set<object>();
  const walk = (v: unknown, at: string): string | undefined => {
    switch (typeof v) {
      case 'string':
        return stringProblem(v, `${at} contains`);
      case 'boolean':
        return undefined;
      case 'number':
        return Number.isFinite(v) ? undefined : `${at} is ${String(v)}, which JSON cannot represent`;
      case 'bigint':
        return `${at} is a BigInt, which JSON cannot represent`;
      case 'undefined':
        return `${at} is undefined, which JSON would drop`;
      case 'function':
        return `${at} is a function`;
      case 'symbol':
        return `${at} is a symbol`;
      default:
        break;
    }
    if (v === null) return undefined;
    const obj = v as object;
    if (ancestors.has(obj)) return `${at} is a cycle back to an enclosing object`;
    // The root's path only: the path of a member this deep would be kilobytes long.
    if (ancestors.size >= MAX_JSON_DEPTH) return `${path} nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`;
    ancestors.add(obj);
    try {
      if (Array.isArray(obj)) {
        for (let i = 0; i < obj.length; i++) {
          if (!(i in obj)) return `${at}[${i}] is an empty array slot`;
          const problem = walk(obj[i], `${at}[${i}]`);
          if (problem) return problem;
        }
        return undefined;
      }
      if (!isPlainObject(obj)) return `${at} is ${describeValue(obj)}, not a plain object`;
      if (Object.getOwnPropertySymbols(obj).length > 0) return `${at} has symbol keys`;
      for (const [index, [key, member]] of Object.entries(obj).entries()) {
        const keyProblem = stringProblem(key, `${at}.<key ${index}> is a key with`);
        if (keyProblem) return keyProblem;
        const problem = walk(member, `${at}.<key ${index}>`);
        if (problem) return problem;
      }
      return undefined;
    } finally {
      ancestors.delete(obj);
    }
  };
  return walk(value, path);
}

/** What Postgres cannot store of a string (text or jsonb), said after `prefix`, or `undefined`. */
function stringProblem(text: string, prefix: string): string | undefined {
  if (text.includes('\u0000')) return `${prefix} a NUL character (\\u0000), which Postgres cannot store`;
  if (!text.isWellFormed()) return `${prefix} a lone surrogate (not well-formed Unicode), which Postgres cannot store`;
  return undefined;
}

/** The same checks as {@link jsonProblem}'s walk, as a yes/no answer with no messages built. */
function isCleanJson(v: unknown, ancestors: Set<object>): boolean {
  switch (typeof v) {
    case 'string':
      return !v.includes('\u0000') && v.isWellFormed();
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      break;
    default:
      return false;
  }
  if (v === null) return true;
  if (ancestors.has(v) || ancestors.size >= MAX_JSON_DEPTH) return false;
  ancestors.add(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!(i in v) || !isCleanJson(v[i], ancestors)) return false;
  } else {
    if (!isPlainObject(v) || Object.getOwnPropertySymbols(v).length > 0) return false;
    for (const key in v) {
      if (!Object.hasOwn(v, key)) continue;
      if (key.includes('\u0000') || !key.isWellFormed() || !isCleanJson(v[key], ancestors)) return false;
    }
  }
  ancestors.delete(v);
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `value` (a Date or an ISO-8601 string) as UTC ISO-8601 with milliseconds, or `undefined`. */
export function toIsoMillis(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** Read options after defaults. */
export interface ResolvedReadOptions {
  readonly fromVersion: number | undefined;
  readonly limit: number | undefined;
  readonly direction: 'forward' | 'backward';
}

/** Validates {@link ReadOptions}. */
export function resolveReadOptions(options: ReadOptions = {}): ResolvedReadOptions {
  const { fromVersion, limit, direction = 'forward' } = options;
  if (fromVersion !== undefined && !(Number.isSafeInteger(fromVersion) && fromVersion >= 0)) {
    throw new InvalidEventStoreOptionError('fromVersion', fromVersion, 'an integer >= 0');
  }
  if (limit !== undefined) assertLimit(limit);
  if (direction !== 'forward' && direction !== 'backward') {
    throw new InvalidEventStoreOptionError('direction', direction, '"forward" or "backward"');
  }
  return { fromVersion, limit, direction };
}

function assertLimit(limit: unknown): asserts limit is number {
  if (!(typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= 1)) {
    throw new InvalidEventStoreOptionError('limit', limit, 'an integer >= 1');
  }
}

/** An {@link EventFilter} checked and normalised to arrays and ISO times. */
export interface NormalizedFilter {
  readonly types: readonly string[] | undefined;
  readonly typePrefixes: readonly string[] | undefined;
  readonly attribution: ReadonlyArray<readonly [AttributionKey, string]>;
  readonly outcomes: readonly Outcome[] | undefined;
  readonly occurredFrom: string | undefined;
  readonly occurredBefore: string | undefined;
}

/** Read-all options after defaults. */
export interface ResolvedReadAllOptions {
  /** The cursor position, canonical decimal, or `undefined` for the start. */
  readonly after: string | undefined;
  readonly limit: number;
  readonly filter: NormalizedFilter;
}

/** Validates {@link ReadAllOptions}. */
export function resolveReadAllOptions(options: ReadAllOptions = {}): ResolvedReadAllOptions {
  const { limit = DEFAULT_READ_ALL_LIMIT } = options;
  assertLimit(limit);
  return { after: resolvePosition('after', options.after), limit, filter: normalizeFilter(options.filter) };
}

const CURSOR = /^(0|[1-9]\d{0,18})(?:~(0|[1-9]\d{0,19}))?$/;

/**
 * `value` as a canonical cursor string, or `undefined`: a position (a decimal integer >= 0),
 * optionally with the `~<horizon>` suffix an adapter puts on positions it returns from
 * `append()` (see {@link parseCursor}).
 */
export function resolvePosition(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const match = typeof value === 'string' ? CURSOR.exec(value) : null;
  if (match && BigInt(match[1]!) <= 9223372036854775807n && (match[2] === undefined || BigInt(match[2]) <= 18446744073709551615n)) {
    return value as string;
  }
  throw new InvalidEventStoreOptionError(option, value, 'a position: a decimal integer string >= 0, as the store returned it');
}

/** A cursor split into the event position it names and the optional horizon suffix. */
export interface ParsedCursor {
  /** The event's position (decimal). */
  readonly position: string;
  /**
   * Present on positions an adapter returned from `append()` while older transactions were
   * still open: the adapter-specific point of the log (for Postgres, the oldest transaction id
   * then running) from which a reader resuming at this cursor must look again.
   */
  readonly horizon?: string;
}

/**
 * The plain position of the event a position names: `position` itself, or without the
 * `~<horizon>` suffix a position returned by `append()` may carry. Compare events' places in
 * the log with it (or compare ids), not the strings as returned.
 *
 * @example
 * ```ts
 * const [mine] = await store.append('session:1', [{ type: 'session.started', data: {} }]);
 * const page = await store.readAll({ after: '0' });
 * const same = page.find((e) => e.position === eventPosition(mine!.position));
 * ```
 */
export function eventPosition(position: string): string {
  return parseCursor(position).position;
}

/** Splits a cursor checked by {@link resolvePosition}. */
export function parseCursor(cursor: string): ParsedCursor {
  const at = cursor.indexOf('~');
  return at < 0 ? { position: cursor } : { position: cursor.slice(0, at), horizon: cursor.slice(at + 1) };
}

const FILTER_KEYS = new Set<string>(['types', 'typePrefix', ...ATTRIBUTION_KEYS, 'outcome', 'occurredFrom', 'occurredBefore']);

/** Checks and normalises an {@link EventFilter}. */
export function normalizeFilter(filter: EventFilter | undefined): NormalizedFilter {
  if (filter === undefined) {
    return { types: undefined, typePrefixes: undefined, attribution: [], outcomes: undefined, occurredFrom: undefined, occurredBefore: undefined };
  }
  if (!isPlainObject(filter)) throw new InvalidEventStoreOptionError('filter', filter, 'an object');
  for (const key of Object.keys(filter)) {
    // A filter may be built from a request: an unknown key is described, never named.
    if (!FILTER_KEYS.has(key)) {
      throw new InvalidEventStoreOptionError('filter', filter, `only the keys ${[...FILTER_KEYS].join(', ')}`, {
        shown: `an unknown key, ${describeValue(key)}`,
      });
    }
  }
  const types = filterStrings('types', filter.types, (s) => TYPE.test(s));
  const typePrefixes = filterStrings('typePrefix', filter.typePrefix);
  const attribution: Array<readonly [AttributionKey, string]> = [];
  for (const key of ATTRIBUTION_KEYS) {
    const value = filter[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0) {
      throw new InvalidEventStoreOptionError(`filter.${key}`, value, 'a non-empty string');
    }
    attribution.push([key, value]);
  }
  const outcomes = filterStrings('outcome', filter.outcome, (s) => OUTCOMES.includes(s as Outcome)) as Outcome[] | undefined;
  return {
    types,
    typePrefixes,
    attribution,
    outcomes,
    occurredFrom: filterTime('occurredFrom', filter.occurredFrom),
    occurredBefore: filterTime('occurredBefore', filter.occurredBefore),
  };
}

function filterStrings(name: string, value: unknown, check?: (s: string) => boolean): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length > 0 && (!check || check(s)))) {
    throw new InvalidEventStoreOptionError(`filter.${name}`, value, 'a non-empty string or a non-empty array of them');
  }
  return [...new Set(list as string[])];
}

function filterTime(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const iso = toIsoMillis(value);
  if (iso === undefined) throw new InvalidEventStoreOptionError(`filter.${name}`, value, 'a Date or an ISO-8601 string');
  return iso;
}

/** Whether `event` passes `filter` (the in-process form of the adapters' SQL). */
export function matchesFilter(event: StoredEvent, filter: NormalizedFilter): boolean {
  if (filter.types && !filter.types.includes(event.type)) return false;
  if (filter.typePrefixes && !filter.typePrefixes.some((p) => event.type.startsWith(p))) return false;
  for (const [key, value] of filter.attribution) if (event.metadata[key] !== value) return false;
  if (filter.outcomes && !filter.outcomes.includes(event.metadata.outcome as Outcome)) return false;
  // ISO-8601 UTC strings with milliseconds compare correctly as strings.
  if (filter.occurredFrom !== undefined && event.occurredAt < filter.occurredFrom) return false;
  if (filter.occurredBefore !== undefined && event.occurredAt >= filter.occurredBefore) return false;
  return true;
}

/** Checks a snapshot before saving; returns its state serialised. */
export function prepareSnapshot(streamId: unknown, version: unknown, state: unknown, maxBytes: number): string {
  assertStreamId(streamId);
  if (!(typeof version === 'number' && Number.isSafeInteger(version) && version >= 1)) {
    throw new InvalidEventStoreOptionError('version', version, 'an integer >= 1');
  }
  const problem = jsonProblem(state, 'state');
  if (problem) throw new InvalidEventStoreOptionError('state', undefined, `a JSON value (${problem})`);
  const json = JSON.stringify(state);
  if (Buffer.byteLength(json) > maxBytes) {
    throw new InvalidEventStoreOptionError('state', undefined, `at most ${maxBytes} bytes serialised`);
  }
  return json;
}

/** Subscription options after checks: a stream start version or a log cursor. */
export type ResolvedSubscribeFrom =
  | { readonly kind: 'start' }
  | { readonly kind: 'end' }
  | { readonly kind: 'version'; readonly version: number }
  | { readonly kind: 'after'; readonly after: string };

/** Validates `from` for a stream (`streamId` given) or a log subscription. */
export function resolveSubscribeFrom(from: SubscribeFrom | undefined, stream: boolean): ResolvedSubscribeFrom {
  if (from === undefined || from === 'start') return { kind: 'start' };
  if (from === 'end') return { kind: 'end' };
  if (typeof from === 'object' && from !== null) {
    if (stream && 'version' in from) {
      const { version } = from;
      if (Number.isSafeInteger(version) && version >= 0) return { kind: 'version', version: Math.max(1, version) };
    }
    if (!stream && 'after' in from) return { kind: 'after', after: resolvePosition('from.after', from.after)! };
  }
  throw new InvalidEventStoreOptionError(
    'from',
    from,
    stream ? '"start", "end" or { version } (inclusive) for a stream subscription' : '"start", "end" or { after: position } for a log subscription',
  );
}
