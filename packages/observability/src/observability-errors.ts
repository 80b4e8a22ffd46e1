import { BuckleyError, type BuckleyErrorOptions, isBuckleyError } from '@buckley/utils';

/** Stable codes of the observability package's errors. */
export const ObservabilityErrorCode = {
  InvalidAttribution: 'INVALID_ATTRIBUTION',
  InvalidOption: 'INVALID_OBSERVABILITY_OPTION',
  OperationDenied: 'OPERATION_DENIED',
  Closed: 'OBSERVABILITY_CLOSED',
  TelemetryDropped: 'TELEMETRY_DROPPED',
  UnresumableCursor: 'LIVE_STREAM_CURSOR_UNRESUMABLE',
} as const;

/** One of {@link ObservabilityErrorCode}'s values. */
export type ObservabilityErrorCode = (typeof ObservabilityErrorCode)[keyof typeof ObservabilityErrorCode];

/** The base of every error this package throws; store and exporter errors travel as `cause`. */
export class ObservabilityError extends BuckleyError {
  declare readonly code: ObservabilityErrorCode;
}

/** An attribution field had the wrong type or shape (e.g. a trace id that is not 32 hex digits). */
export class InvalidAttributionError extends ObservabilityError {
  /** The attribution field, e.g. `traceId`. */
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string, options?: BuckleyErrorOptions) {
    super(ObservabilityErrorCode.InvalidAttribution, `attribution ${field} ${JSON.stringify(value) ?? String(value)} is invalid, expected ${expected}`, options);
    this.field = field;
    this.value = value;
  }
}

/** An option of a factory was missing or out of range. */
export class InvalidObservabilityOptionError extends ObservabilityError {
  readonly option: string;
  readonly value: unknown;

  constructor(option: string, value: unknown, expected: string, options?: BuckleyErrorOptions) {
    super(ObservabilityErrorCode.InvalidOption, `option ${option} ${JSON.stringify(value) ?? String(value)} is invalid, expected ${expected}`, options);
    this.option = option;
    this.value = value;
  }
}

/**
 * Thrown by an observed operation (or by the policy check inside it) to refuse it: the
 * operation ends with outcome `denied`, not `failure`. Any error with `outcome: 'denied'`
 * counts the same, so another package's policy error needs no import of this class.
 */
export class OperationDeniedError extends ObservabilityError {
  /** Always `'denied'`: what {@link observe} checks. */
  readonly outcome = 'denied' as const;
  /** The policy rule that refused, e.g. `network_disabled`. */
  readonly rule: string | undefined;

  constructor(message: string, options?: BuckleyErrorOptions & { readonly rule?: string }) {
    super(ObservabilityErrorCode.OperationDenied, message, options);
    this.rule = options?.rule;
  }
}

/** The recorder or writer was used after `close()`. */
export class ObservabilityClosedError extends ObservabilityError {
  constructor(what: string, options?: BuckleyErrorOptions) {
    super(ObservabilityErrorCode.Closed, `${what} is closed`, options);
  }
}

/** A bound of the batching writer dropped the record; it was counted and reported in a `telemetry.dropped` event. */
export class TelemetryDroppedError extends ObservabilityError {
  /** `buffer_full` (the buffer and its waiters were full) or `store_failed` (the flush failed after its retries). */
  readonly reason: 'buffer_full' | 'store_failed';

  constructor(reason: 'buffer_full' | 'store_failed', options?: BuckleyErrorOptions) {
    super(
      ObservabilityErrorCode.TelemetryDropped,
      reason === 'buffer_full' ? 'telemetry buffer is full, the record was dropped' : 'the store refused the batch after its retries, the record was dropped',
      { retryable: true, ...options },
    );
    this.reason = reason;
  }
}

/** True for any error of this package, optionally with the given code. */
export function isObservabilityError(value: unknown, code?: ObservabilityErrorCode): value is ObservabilityError {
  return value instanceof ObservabilityError && isBuckleyError(value, code);
}

/** True when `error` refuses an operation: an {@link OperationDeniedError} or any error with `outcome: 'denied'`. */
export function isDenial(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { outcome?: unknown }).outcome === 'denied';
}

/**
 * A live stream was asked to resume from a cursor the store does not know (an `after` or
 * `Last-Event-ID` that is no position of this partition). Not retryable with the same cursor:
 * start again from `'start'` or `'end'`.
 */
export class UnresumableCursorError extends ObservabilityError {
  readonly cursor: string;

  constructor(cursor: string, options?: BuckleyErrorOptions) {
    super(
      ObservabilityErrorCode.UnresumableCursor,
      `live stream cannot resume from cursor ${JSON.stringify(cursor)}, expected a position the store returned for this partition`,
      options,
    );
    this.cursor = cursor;
  }
}
