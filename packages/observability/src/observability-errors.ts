import { BuckleyError, type BuckleyErrorOptions, describeValue, isBuckleyError } from '@buckley/utils';

/** Stable codes of the observability package's errors. */
export const ObservabilityErrorCode = {
  InvalidAttribution: 'INVALID_ATTRIBUTION',
  InvalidOption: 'INVALID_OBSERVABILITY_OPTION',
  OperationDenied: 'OPERATION_DENIED',
  TelemetryDropped: 'TELEMETRY_DROPPED',
  UnresumableCursor: 'LIVE_STREAM_CURSOR_UNRESUMABLE',
} as const;

/** One of {@link ObservabilityErrorCode}'s values. */
export type ObservabilityErrorCode = (typeof ObservabilityErrorCode)[keyof typeof ObservabilityErrorCode];

/** The base of every error this package throws; store and exporter errors travel as `cause`. */
export class ObservabilityError extends BuckleyError {
  declare readonly code: ObservabilityErrorCode;
}

/**
 * An attribution field had the wrong type or shape (e.g. a trace id that is not 32 hex
 * digits). The message names the field, the rule and the value's type and length, never the
 * value: a secret used as an id must not reach the log that records the error.
 */
export class InvalidAttributionError extends ObservabilityError {
  /** The attribution field, e.g. `traceId`. */
  readonly field: string;
  /** What the field must be. */
  readonly expected: string;

  constructor(field: string, value: unknown, expected: string, options?: BuckleyErrorOptions) {
    super(ObservabilityErrorCode.InvalidAttribution, `attribution ${field} is invalid (${describeValue(value)}), expected ${expected}`, options);
    this.field = field;
    this.expected = expected;
  }
}

/** An option of a factory was missing or out of range. Like every error here, it describes the bad value by type and size only. */
export class InvalidObservabilityOptionError extends ObservabilityError {
  readonly option: string;
  /** What the option must be. */
  readonly expected: string;

  constructor(option: string, value: unknown, expected: string, options?: BuckleyErrorOptions) {
    super(ObservabilityErrorCode.InvalidOption, `option ${option} is invalid (${describeValue(value)}), expected ${expected}`, options);
    this.option = option;
    this.expected = expected;
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
 * The outcome an operation that threw `error` ends with: `denied` for a refusal
 * ({@link isDenial}), `timeout` for an error with code `TIMEOUT`, `cancelled` for `ABORTED` or an
 * `AbortError`, else `failure`. One rule for `observe()` and every timer built on it.
 */
export function outcomeOfError(error: unknown): 'failure' | 'timeout' | 'cancelled' | 'denied' {
  if (isDenial(error)) return 'denied';
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'TIMEOUT') return 'timeout';
  if (code === 'ABORTED' || (error as Error | null)?.name === 'AbortError') return 'cancelled';
  return 'failure';
}

/**
 * A live stream was asked to resume from a cursor the store does not know (an `after` or
 * `Last-Event-ID` that is no position of this partition). Not retryable with the same cursor:
 * start again from `'start'` or `'end'`.
 */
export class UnresumableCursorError extends ObservabilityError {
  constructor(cursor: unknown, options?: BuckleyErrorOptions) {
    super(
      ObservabilityErrorCode.UnresumableCursor,
      `live stream cannot resume from the cursor given (${describeValue(cursor)}), expected a position the store returned for this partition`,
      options,
    );
  }
}
