import { BuckleyError, type BuckleyErrorOptions, describeValue, isBuckleyError } from '@buckley/utils';
import type { ExpectedVersion } from './event-store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Stable codes of the event store's errors. */
export const EventStoreErrorCode = {
  WrongExpectedVersion: 'WRONG_EXPECTED_VERSION',
  EventIdConflict: 'EVENT_ID_CONFLICT',
  InvalidEvent: 'INVALID_EVENT',
  InvalidStreamId: 'INVALID_STREAM_ID',
  InvalidExpectedVersion: 'INVALID_EXPECTED_VERSION',
  InvalidOption: 'INVALID_EVENT_STORE_OPTION',
  Unavailable: 'EVENT_STORE_UNAVAILABLE',
  Backend: 'EVENT_STORE_BACKEND_ERROR',
} as const;

/** One of {@link EventStoreErrorCode}'s values. */
export type EventStoreErrorCode = (typeof EventStoreErrorCode)[keyof typeof EventStoreErrorCode];

/** The base of every error an event store throws; driver errors travel as `cause`. */
export class EventStoreError extends BuckleyError {
  declare readonly code: EventStoreErrorCode;
}

/**
 * How an error shows a version: an integer or one of the store's words (`"any"`, ...) as is, since
 * the store checked it; anything else only by kind.
 */
function showVersion(expected: unknown): string {
  if (expected === 'any' || expected === 'no_stream' || expected === 'exists') return JSON.stringify(expected);
  return Number.isSafeInteger(expected) ? String(expected) : describeValue(expected);
}

/** How an error shows an event id: a UUID as is (the store checked it), anything else by kind and size. */
function showEventId(eventId: unknown): string {
  return typeof eventId === 'string' && UUID.test(eventId) ? JSON.stringify(eventId) : describeValue(eventId);
}

/**
 * The stream's version did not satisfy the append's `expectedVersion`; nothing was written.
 *
 * The message describes the stream id by its size only (stream ids can hold user text), and
 * `streamId` is an accessor, not an own property: `JSON.stringify(error)` and `util.inspect(error)`
 * show `code`, `expected` and `actual`, never the stream id.
 */
export class WrongExpectedVersionError extends EventStoreError {
  readonly #streamId: string;
  readonly expected: ExpectedVersion;
  /** The stream's version when the append was checked (`0` = no events). */
  readonly actual: number;

  constructor(streamId: string, expected: ExpectedVersion, actual: number, options?: BuckleyErrorOptions) {
    super(
      EventStoreErrorCode.WrongExpectedVersion,
      `stream (${describeValue(streamId)}) is at version ${showVersion(actual)}, expected version ${showVersion(expected)}`,
      options,
    );
    this.#streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }

  /** The stream whose version did not hold (for code; never in the message, JSON or inspect output). */
  get streamId(): string {
    return this.#streamId;
  }
}

/**
 * An append carried an event id that is stored in another stream. Ids are unique in the log, so
 * this is not a retry of that append (a retry returns the stored event); nothing of the call was
 * written. Both stream ids are accessors, kept out of the message, JSON and inspect output.
 */
export class EventIdConflictError extends EventStoreError {
  readonly #eventId: string;
  readonly #streamId: string;
  readonly #storedStreamId: string;

  constructor(eventId: string, streamId: string, storedStreamId: string, options?: BuckleyErrorOptions) {
    super(
      EventStoreErrorCode.EventIdConflict,
      `event id ${showEventId(eventId)} is stored in another stream (${describeValue(storedStreamId)}), it cannot be appended to stream (${describeValue(streamId)})`,
      options,
    );
    this.#eventId = eventId;
    this.#streamId = streamId;
    this.#storedStreamId = storedStreamId;
  }

  /** The event's id. */
  get eventId(): string {
    return this.#eventId;
  }

  /** The stream the call tried to append the event to. */
  get streamId(): string {
    return this.#streamId;
  }

  /** The stream that holds the stored event with this id. */
  get storedStreamId(): string {
    return this.#storedStreamId;
  }
}

/** True for an {@link EventIdConflictError} (by code). */
export function isEventIdConflictError(value: unknown): value is EventIdConflictError {
  return isBuckleyError(value, EventStoreErrorCode.EventIdConflict);
}

/**
 * An event of an append was malformed; no event of that call was written. `problem` says what
 * was wrong in the store's words, never with the caller's type, keys or values (a member of
 * `data` is named by its place: `data.<key 2>[0]` is item 0 of the third key of `data`).
 */
export class InvalidEventError extends EventStoreError {
  readonly #streamId: string;
  readonly #eventId: string | undefined;
  /** 0-based index of the bad event in the call's list (for that stream). */
  readonly eventIndex: number;
  /** What was wrong, e.g. `data.<key 0>[2] is a function`. */
  readonly problem: string;

  constructor(streamId: string, eventIndex: number, eventId: string | undefined, problem: string, options?: BuckleyErrorOptions) {
    // An id that is not a UUID may be anything the caller had at hand: only its kind is shown.
    const which = eventId === undefined ? `event ${eventIndex}` : `event ${eventIndex} (id ${showEventId(eventId)})`;
    super(EventStoreErrorCode.InvalidEvent, `${which} of stream (${describeValue(streamId)}): ${problem}`, options);
    this.#streamId = streamId;
    this.#eventId = eventId;
    this.eventIndex = eventIndex;
    this.problem = problem;
  }

  /** The stream the event was appended to. */
  get streamId(): string {
    return this.#streamId;
  }

  /** The event's id when it had a usable one. */
  get eventId(): string | undefined {
    return this.#eventId;
  }
}

/** A stream id was empty, too long, not a string or contained whitespace or control characters. */
export class InvalidStreamIdError extends EventStoreError {
  readonly #streamId: unknown;

  constructor(streamId: unknown, problem: string, options?: BuckleyErrorOptions) {
    super(EventStoreErrorCode.InvalidStreamId, `stream id (${describeValue(streamId)}) ${problem}`, options);
    this.#streamId = streamId;
  }

  /** The refused stream id (for code; never in the message, JSON or inspect output). */
  get streamId(): unknown {
    return this.#streamId;
  }
}

/** `expectedVersion` was neither an integer >= 0 nor `'any'`, `'no_stream'` or `'exists'`. */
export class InvalidExpectedVersionError extends EventStoreError {
  readonly #expectedVersion: unknown;

  constructor(expectedVersion: unknown, options?: BuckleyErrorOptions) {
    super(
      EventStoreErrorCode.InvalidExpectedVersion,
      `expectedVersion (${describeValue(expectedVersion)}) is invalid, expected an integer >= 0, "any", "no_stream" or "exists"`,
      options,
    );
    this.#expectedVersion = expectedVersion;
  }

  /** The refused value (for code; never in the message, JSON or inspect output). */
  get expectedVersion(): unknown {
    return this.#expectedVersion;
  }
}

/**
 * Another option (a limit, a cursor, a filter field, a snapshot version, a factory option) was
 * invalid, or an options object had a key the call does not know.
 */
export class InvalidEventStoreOptionError extends EventStoreError {
  /**
   * The option's name, e.g. `limit` or `filter.outcome`: a name the store chose, never a key the
   * caller made up (an unknown key of a factory's options is named only when it is a plain
   * identifier; an unknown key of a filter never is).
   */
  readonly option: string;
  readonly #value: unknown;

  /**
   * The message shows `value` by kind and size only ({@link describeValue}); `shown` replaces that
   * when the store itself describes what it found (never a caller's raw value). `option` must be
   * a name the store chose.
   */
  constructor(option: string, value: unknown, expected: string, options?: BuckleyErrorOptions & { readonly shown?: string }) {
    const { shown, ...errorOptions } = options ?? {};
    super(EventStoreErrorCode.InvalidOption, `${option} (${shown ?? describeValue(value)}) is invalid, expected ${expected}`, errorOptions);
    this.option = option;
    this.#value = value;
  }

  /** The refused value (for code; never in the message, JSON or inspect output). */
  get value(): unknown {
    return this.#value;
  }
}

/**
 * The backend could not complete the call (connection lost, server shutting down). Retryable:
 * the call wrote nothing, so the same call may be made again.
 */
export class EventStoreUnavailableError extends EventStoreError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super(EventStoreErrorCode.Unavailable, message, { retryable: true, ...options });
  }
}

/** True for any event store error (by shape, so it holds across duplicate installs). */
export function isEventStoreError(value: unknown): value is EventStoreError {
  return isBuckleyError(value) && (Object.values(EventStoreErrorCode) as string[]).includes(value.code);
}

/** True for a {@link WrongExpectedVersionError} (by code). */
export function isWrongExpectedVersionError(value: unknown): value is WrongExpectedVersionError {
  return isBuckleyError(value, EventStoreErrorCode.WrongExpectedVersion);
}

/** True for an {@link InvalidEventError} (by code). */
export function isInvalidEventError(value: unknown): value is InvalidEventError {
  return isBuckleyError(value, EventStoreErrorCode.InvalidEvent);
}

/** True for an {@link EventStoreUnavailableError} (by code). */
export function isEventStoreUnavailableError(value: unknown): value is EventStoreUnavailableError {
  return isBuckleyError(value, EventStoreErrorCode.Unavailable);
}
