/** Options accepted by every Buckley error: the standard `cause` plus retry advice. */
export interface BuckleyErrorOptions extends ErrorOptions {
  /** Whether the same call may succeed if tried again (a dropped connection, a timeout). */
  readonly retryable?: boolean;
}

/**
 * The base of every Buckley error. `code` is a stable string callers branch on (it never
 * changes between releases, unlike messages); driver errors travel as `cause`.
 *
 * @example
 * ```ts
 * class LockError extends BuckleyError {}
 * throw new LockError('LOCK_NOT_HELD', 'lock "a" is not held by this owner');
 * ```
 */
export class BuckleyError extends Error {
  /** Stable machine-readable code, SCREAMING_SNAKE_CASE. */
  readonly code: string;
  /** Whether retrying the same operation may succeed. */
  readonly retryable: boolean;

  constructor(code: string, message: string, options?: BuckleyErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/**
 * True when `value` is a Buckley error, optionally with the given `code`. Checks the shape, not
 * the prototype, so it holds across duplicate installs of this package.
 */
export function isBuckleyError(value: unknown, code?: string): value is BuckleyError {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { code?: unknown; retryable?: unknown };
  return (
    value instanceof Error && typeof candidate.code === 'string' && typeof candidate.retryable === 'boolean' && (code === undefined || candidate.code === code)
  );
}

/** True when `error` is marked retryable by Buckley (`retryable: true`). */
export function isRetryableError(error: unknown): boolean {
  return isBuckleyError(error) && error.retryable;
}

/** The signal was aborted before or during the operation. */
export class AbortedError extends BuckleyError {
  constructor(message = 'the operation was aborted', options?: BuckleyErrorOptions) {
    super('ABORTED', message, options);
  }
}

/** A deadline passed before the operation finished. */
export class TimeoutError extends BuckleyError {
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, message?: string, options?: BuckleyErrorOptions) {
    super('TIMEOUT', message ?? `timed out after ${timeoutMs} ms`, { retryable: true, ...options });
    this.timeoutMs = timeoutMs;
  }
}

/** An argument was missing, of the wrong type or out of range. */
export class InvalidArgumentError extends BuckleyError {
  constructor(message: string, options?: BuckleyErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/**
 * The one error for "used after `close()`", whatever was closed: every Buckley object with a
 * `close()` (an event store, a bus, a task coordinator, a queue, a model client) throws or
 * rejects with it, code `CLOSED`, and `resource` names what was closed. `close()` itself is
 * idempotent and never throws it.
 *
 * @example
 * ```ts
 * if (this.#closed) throw new ClosedError('event store');
 * // caller: if (isClosedError(error)) reconnect();
 * ```
 */
export class ClosedError extends BuckleyError {
  /** What was closed, e.g. `event store`. */
  readonly resource: string;

  constructor(resource: string, options?: BuckleyErrorOptions) {
    super('CLOSED', `${resource} is closed`, options);
    this.resource = resource;
  }
}

/** True for a {@link ClosedError} (by code, so it holds across duplicate installs). */
export function isClosedError(value: unknown): value is ClosedError {
  return isBuckleyError(value, 'CLOSED');
}

/**
 * How an error message shows a value it refuses: its kind and size, never its content (not even
 * a number: `{ password: 84736251 }` is a secret too). A secret passed by mistake (a token as a
 * stream id, a password as a cursor) must not reach the log that records the error. Where an
 * error keeps the value for the caller, it keeps it behind an accessor (a getter over a private
 * field), so `JSON.stringify` and `util.inspect` of the error do not show it either.
 *
 * @example
 * ```ts
 * describeValue('ghp_secret'); // 'a string of 10 characters'
 * describeValue(-1); // 'a number'
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  if (typeof value === 'object') {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name} object` : 'an object';
  }
  return `a ${typeof value}`;
}
