import { BuckleyError, type BuckleyErrorOptions, isBuckleyError } from '@buckley/utils';

/** Stable codes of the bus's errors. */
export const BusErrorCode = {
  InvalidSubject: 'BUS_INVALID_SUBJECT',
  InvalidHeader: 'BUS_INVALID_HEADER',
  PayloadTooLarge: 'BUS_PAYLOAD_TOO_LARGE',
  InvalidMessage: 'BUS_INVALID_MESSAGE',
  NoResponders: 'BUS_NO_RESPONDERS',
  Timeout: 'BUS_TIMEOUT',
  Unavailable: 'BUS_UNAVAILABLE',
  SlowConsumer: 'BUS_SLOW_CONSUMER',
} as const;

/** One of {@link BusErrorCode}'s values. */
export type BusErrorCode = (typeof BusErrorCode)[keyof typeof BusErrorCode];

/** The base of every error a {@link Bus} throws or reports; driver errors travel as `cause`. */
export class BusError extends BuckleyError {
  declare readonly code: BusErrorCode;
}

/** A subject (or subscription pattern) broke the subject rules; nothing was sent. */
export class InvalidSubjectError extends BusError {
  readonly subject: string;
  constructor(subject: string, message: string, options?: BuckleyErrorOptions) {
    super(BusErrorCode.InvalidSubject, message, options);
    this.subject = subject;
  }
}

/** A header name or value could not be carried (name with `:` or whitespace, value with CR/LF). */
export class InvalidHeaderError extends BusError {
  readonly header: string;
  constructor(header: string, message: string, options?: BuckleyErrorOptions) {
    super(BusErrorCode.InvalidHeader, message, options);
    this.header = header;
  }
}

/** The payload is larger than the bus (the server's `max_payload`) accepts; nothing was sent. */
export class PayloadTooLargeError extends BusError {
  readonly subject: string;
  /** Payload size in bytes. */
  readonly size: number;
  /** The limit in bytes. */
  readonly maxPayload: number;
  constructor(subject: string, size: number, maxPayload: number, options?: BuckleyErrorOptions) {
    super(BusErrorCode.PayloadTooLarge, `payload of ${size} bytes on subject ${JSON.stringify(subject)} exceeds max_payload ${maxPayload}`, options);
    this.subject = subject;
    this.size = size;
    this.maxPayload = maxPayload;
  }
}

/**
 * A message on a typed subject could not be decoded (not UTF-8, not JSON, or rejected by the
 * subject's validator). The message is dropped and reported with this reason, never redelivered.
 */
export class InvalidMessageError extends BusError {
  readonly subject: string;
  /** What was wrong, e.g. `body is not JSON: Unexpected token`. */
  readonly reason: string;
  /** The raw body, for parking or logging. */
  readonly data: Uint8Array;
  constructor(subject: string, reason: string, data: Uint8Array, options?: BuckleyErrorOptions) {
    super(BusErrorCode.InvalidMessage, `message on subject ${JSON.stringify(subject)} rejected: ${reason}`, options);
    this.subject = subject;
    this.reason = reason;
    this.data = data;
  }
}

/** A request found no subscriber on its subject. Retryable: a responder may come up. */
export class NoRespondersError extends BusError {
  readonly subject: string;
  constructor(subject: string, options?: BuckleyErrorOptions) {
    super(BusErrorCode.NoResponders, `no responders on subject ${JSON.stringify(subject)}`, { retryable: true, ...options });
    this.subject = subject;
  }
}

/** A request got no reply within its `timeoutMs`. Retryable. */
export class BusTimeoutError extends BusError {
  readonly subject: string;
  readonly timeoutMs: number;
  constructor(subject: string, timeoutMs: number, options?: BuckleyErrorOptions) {
    super(BusErrorCode.Timeout, `request on subject ${JSON.stringify(subject)} timed out after ${timeoutMs} ms`, {
      retryable: true,
      ...options,
    });
    this.subject = subject;
    this.timeoutMs = timeoutMs;
  }
}

/** The transport failed (connection lost, permission denied); the driver error is the `cause`. */
export class BusUnavailableError extends BusError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super(BusErrorCode.Unavailable, message, { retryable: true, ...options });
  }
}

/** A subscription fell behind and messages were dropped; reported through `onError`. */
export class SlowConsumerError extends BusError {
  readonly subject: string;
  readonly dropped: number;
  constructor(subject: string, dropped: number, options?: BuckleyErrorOptions) {
    super(BusErrorCode.SlowConsumer, `subscription ${JSON.stringify(subject)} dropped ${dropped} message(s): slow consumer`, options);
    this.subject = subject;
    this.dropped = dropped;
  }
}

/** True when `value` is a bus error, optionally with the given code. */
export function isBusError(value: unknown, code?: BusErrorCode): value is BusError {
  return isBuckleyError(value) && value.code.startsWith('BUS_') && (code === undefined || value.code === code);
}

/** True for {@link NoRespondersError} (by code). */
export function isNoRespondersError(value: unknown): value is NoRespondersError {
  return isBusError(value, BusErrorCode.NoResponders);
}

/** True for {@link BusTimeoutError} (by code). */
export function isBusTimeoutError(value: unknown): value is BusTimeoutError {
  return isBusError(value, BusErrorCode.Timeout);
}
